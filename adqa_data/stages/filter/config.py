"""`filter`'s settings, declared once: the command's options, a pipeline step's keys and the library's
keywords come from `FilterConfig`, checked before any model is loaded."""

from __future__ import annotations

from os import PathLike
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...core.config_files import dataset_field
from ...inference.panel import Panel
from ..row_checks import DEFAULT_MAX_PROMPT_TOKENS
from .voting import MIN_LETTER_MASS

BASE_CONDITIONS = ("audio", "silence")
EXTRA_CONDITIONS = ("noise", "swap")
CONDITIONS = BASE_CONDITIONS + EXTRA_CONDITIONS
NOISE_COLORS = ("white", "pink")


class FilterConfig(BaseModel):
    """Every knob of the filter stage, with its default and why."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str | None = dataset_field()
    panel: str | Panel = Field(
        "audiomcq",
        description="panel YAML file, or a built-in panel name (pipelines/panels/: audiomcq, tiny)",
    )
    conditions: tuple[str, ...] = Field(
        BASE_CONDITIONS,
        description="extra condition besides audio and silence (which always run): noise | swap",
        json_schema_extra={"cli": ["--condition"]},
    )
    mode: Literal["letters", "options", "generate"] | None = Field(
        None, description="the mode of every member (default: each member's own, letters)"
    )
    permutations: int = Field(
        1,
        ge=1,
        le=10,
        description="score each item under K cyclic rotations of its options and average; K = the number "
        "of options (4) fully cancels a letter-position bias",
        json_schema_extra={"cli": ["--permutations", "-k"]},
    )
    min_correct: int | None = Field(
        None,
        description="weak when at least this many members are correct on silence (default: the panel's, "
        "2 of 3 in the paper)",
    )
    silence_seconds: float = Field(
        30.0, gt=0, description="length of the silent (and noise) clip; 30 s as in the paper"
    )
    noise_color: Literal["white", "pink"] = Field("white", description="noise condition: its color")
    noise_level: float = Field(-30.0, description="noise condition: RMS level in dBFS")
    seed: int = Field(0, description="seed of the noise clip, the swap draws and the audit's items")
    chunk_items: int = Field(256, ge=1, description="items per votes shard (the unit of resume)")
    max_new_tokens: int = Field(256, ge=1, description="generate mode (and --audit): reply length limit")
    device: str | None = Field(
        None, description="where the members run: cpu | cuda (default: cuda when available)"
    )
    max_prompt_tokens: int = Field(
        DEFAULT_MAX_PROMPT_TOKENS,
        ge=1,
        description="quarantine items whose prompt (question and options) exceeds this many tokens of a "
        "member's tokenizer (prompt_too_long)",
    )
    trust_remote_code: bool = Field(
        False,
        description="allow panel members that need code from their model repository (trust_remote_code: "
        "true, or a family like kimi_audio) to run it; each must be a local folder or pin revision: to a "
        "40-character commit",
        json_schema_extra={"cli": ["--trust-remote-code"]},
    )
    min_letter_mass: float = Field(
        MIN_LETTER_MASS,
        ge=0,
        le=1,
        description="warn about a letters-mode member whose median letter mass (the probability its option "
        "letters hold where they are read, before renormalising) is below this: its letters are read where "
        "it does not put them; reporting only, it changes no vote. 0 = never warn",
    )
    audit: int = Field(
        0,
        ge=0,
        description="after voting, re-ask N random items (--seed; at most every item) in generate mode with "
        "each letters/options member's model and prompt style, on audio and silence, and report how often "
        "its vote equals the parsed generated answer (unparseable replies counted apart); writes "
        "filter_audit/<dataset>/. 0 = no audit",
    )

    @field_validator("panel", mode="before")
    @classmethod
    def _panel_path(cls, v: Any) -> Any:
        return str(v) if isinstance(v, PathLike) else v

    @field_validator("conditions", mode="before")
    @classmethod
    def _one_condition(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        """Audio and silence first, then the extras asked for, once each."""
        unknown = [c for c in v if c not in CONDITIONS]
        if unknown:
            raise ValueError(
                f"unknown condition(s) {unknown}: use {', '.join(EXTRA_CONDITIONS)} "
                "(audio and silence are always run)"
            )
        return BASE_CONDITIONS + tuple(c for c in EXTRA_CONDITIONS if c in v)

    def condition_params(self, condition: str) -> dict[str, Any]:
        """What a condition's audio depends on (part of its votes' key)."""
        if condition == "silence":
            return {"seconds": self.silence_seconds}
        if condition == "noise":
            return {
                "seconds": self.silence_seconds,
                "color": self.noise_color,
                "level_dbfs": self.noise_level,
                "seed": self.seed,
            }
        if condition == "swap":
            return {"seed": self.seed}
        return {}


def FilterOptions(**settings: Any) -> FilterConfig:  # noqa: N802 - the name callers wrote before FilterConfig
    """A `FilterConfig` from keywords, not checked yet: `filter_dataset` checks it when it runs, so a bad
    value is a one-line error there (the settings' earlier spelling, kept for callers)."""
    return FilterConfig.model_construct(**settings)
