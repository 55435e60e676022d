"""Rollout settings: every knob of `adqa-data rollout` with its default and why, and how a YAML file
(`--config`, e.g. pipelines/rollout.yaml) and command-line options combine into one `RolloutConfig`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ...core.config_files import dataset_field, load_settings
from ...core.errors import UserError
from ...inference.backend_settings import BackendSettings
from ...mcq.advantages import DEFAULT_EPS, spread_warning
from ...rewards import AnchoringConfig
from ...rewards.anchoring import AnchoringRows
from ...rewards.settings import AdvantageSettings

FIX = "see 'adqa-data rollout --help' and pipelines/rollout.yaml"
# Settings added after rollout sets were first recorded, with the value a set recorded before then was
# made with (group scaling, no minimum spread), which is not today's default. A record read back
# (`contract.recorded_config`) takes these for a setting it lacks, and `RolloutConfig`'s defaults for any
# other.
RECORDED_BEFORE: dict[str, Any] = {"scale": "group", "min_spread": 0.0}
# which prompt set is rolled out into which rollout set: the stage records them by their resolved names,
# so they are not settings of the run key
SET_FIELDS = frozenset({"dataset", "prompts", "name"})


class RolloutConfig(BackendSettings, AdvantageSettings):
    """Every rollout setting with its default and the reason for it. YAML files (`--config`) hold these
    keys; command-line options override them. The reward weights and advantage settings (`rewards`,
    `baseline`, `scale`, `min_spread`) are declared in `rewards.settings`, shared with the trainer."""

    dataset: str | None = dataset_field()
    prompts: str | None = Field(None, description="prompt set from 'sample' (default: the only one)")
    name: str | None = Field(
        None,
        description="rollout set name (default: <prompts>-<model>-k<K>-seed<seed>-<settings hash>; a "
        "complete set of that name made with other settings is replaced only with --force)",
    )

    k: int = Field(
        4,
        ge=1,
        description="completions per prompt (one GRPO group); the DCASE 2026 MiMo-Audio report uses K=4",
        json_schema_extra={"cli": ["--k", "-k"]},
    )
    temperature: float = Field(
        1.0,
        gt=0,
        description="sampling temperature; 1.0 samples the policy itself, so the stored "
        "log-probs are the policy's and GRPO's importance ratio needs no correction",
    )
    top_p: float = Field(
        1.0, gt=0, le=1, description="nucleus sampling; 1.0 = no truncation, for the same reason"
    )
    max_new_tokens: int = Field(
        512, ge=1, description="completion length limit: room for concise reasoning plus the answer block"
    )
    seed: int = Field(
        0,
        description="completion s of item i uses a generator seeded by (seed, item_id, s): the same "
        "whatever the batching",
    )
    prompt_style: str = Field(
        "think",
        description="a built-in style (think, letters, answer_tag, audiomcq) or a style YAML file; think "
        "reasons in <think>, then names one letter in <answer>",
    )
    std: Literal["sample", "population"] = Field(
        "sample", description="the advantage divisor's std: sample (ddof 1, TRL's GRPOTrainer) or population"
    )
    eps: float = Field(
        DEFAULT_EPS,
        ge=0,
        allow_inf_nan=False,
        description="added to the std, as TRL does: bounds the advantages of a group with a tiny spread",
    )
    anchoring_layers: str | int | list[int] = Field(
        "deep",
        description="decoder layers whose attention the anchoring reward averages: 'deep' = the last "
        "quarter, k = the last k (settings file only)",
    )
    anchoring_ar_threshold: float = Field(
        1.0, gt=0, description="anchoring AR: attention on the audio as a multiple of uniform attention"
    )
    anchoring_entropy_floor: float = Field(
        0.5, ge=0, lt=1, description="anchoring ENT: attention entropy below this earns nothing"
    )
    anchoring_batch_size: int = Field(4, ge=1, description="completions per anchoring forward pass")
    anchoring_rows: AnchoringRows = Field(
        "reasoning",
        description="query rows of the anchoring reward: reasoning = the <think> content (else the text "
        "before <answer>, else the whole text; no reasoning scores 0), the quantity the reward measures; "
        "all = every completion token, answer tags and end token included",
    )
    shard_size: int = Field(
        64,
        ge=1,
        description="groups per shard: the unit of resume, of a Ray task and the batch of --scale batch",
    )
    codec: str | None = Field(
        None,
        description="for a policy that reads RVQ codes, not audio (MiMo-Audio): the code index to read, "
        "a codec name (mimo-audio) or codec key from 'encode'; default: the policy's own codec",
    )
    revision: str | None = Field(
        None,
        description="vllm backend: the hub commit of the policy (a 40-character sha pins it); a local "
        "folder needs none",
    )
    max_prompt_tokens: int = Field(
        2048,
        ge=1,
        description="quarantine prompts (question and options) longer than this in the policy's tokens "
        "(prompt_too_long) instead of slowing the whole run",
    )
    trust_remote_code: bool = Field(
        False,
        description="allow the policy's repository code to run (pinned: a local folder or a commit "
        "revision); only from the command line (--trust-remote-code) or a pipeline step, never a config file",
    )

    @field_validator("backend_options")
    @classmethod
    def _no_remote_code_option(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "trust_remote_code" in v or "revision" in v:
            raise ValueError(
                "trust_remote_code and revision are settings of their own (--trust-remote-code, "
                "--revision), not backend options"
            )
        return v

    def load_options(self) -> dict[str, Any]:
        """`backend_options` with the remote-code permission and the vllm revision (the stage has checked
        both: `inference.trust`)."""
        options = dict(self.backend_options)
        if self.backend != "scripted":
            options["trust_remote_code"] = self.trust_remote_code
            if self.backend == "vllm" and self.revision is not None:
                options["revision"] = self.revision
        return options

    def anchoring_config(self) -> AnchoringConfig:
        return AnchoringConfig(
            ar_threshold=self.anchoring_ar_threshold,
            entropy_floor=self.anchoring_entropy_floor,
            rows=self.anchoring_rows,
        )

    def run_config(self) -> dict[str, Any]:
        """What decides the output: everything but `backend_options`, the permission to run remote code
        (it decides whether the run may load its model, not what the run writes) and the set names (the
        stage records them resolved)."""
        exclude = {"backend_options", "trust_remote_code", *SET_FIELDS}
        exclude |= {"codec"} if self.codec is None else set()
        exclude |= {"revision"} if self.revision is None else set()
        return self.model_dump(exclude=exclude)

    def warnings(self) -> list[str]:
        """Settings that are valid but rarely what was meant."""
        out = []
        if self.k == 1:
            out.append(
                "--k 1: each group has one completion, so every group-relative advantage is 0 and GRPO "
                "gets no signal from these rollouts; use k >= 2 (4 is the default)"
            )
        for name, w in self.rewards.items():
            if w < 0:
                out.append(f"reward {name} has a negative weight ({w:g}): higher {name} lowers the total")
        spread = spread_warning(self.min_spread, self.rewards)
        return out + ([spread] if spread else [])


def parse_reward_weights(pairs: Sequence[str]) -> dict[str, float]:
    """`["correctness=1", "format=0.5"]` -> {"correctness": 1.0, "format": 0.5}."""
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, weight = pair.rpartition("=")
        if not sep or not name.strip():
            raise UserError(
                f"--reward {pair!r} is not NAME=WEIGHT",
                fix="e.g. --reward correctness=1.0 --reward format=0.5 --reward anchoring=0.5",
            )
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise UserError(f"--reward {pair!r}: {weight!r} is not a number") from None
    return out


def load_config(path: str | Path | None = None, **overrides: Any) -> RolloutConfig:
    """A `RolloutConfig` from a YAML file (optional) with `overrides` (None values ignored) on top.
    `trust_remote_code` may come only from the overrides (the command line), never from the file."""
    allow = overrides.pop("trust_remote_code", None)
    cfg = load_settings(path, RolloutConfig, "rollout config", fix=FIX, overrides=overrides)
    if cfg.trust_remote_code:
        raise UserError(
            "trust_remote_code cannot be set in a rollout config file",
            where=str(path),
            fix="remove it from the file and pass --trust-remote-code on the command line "
            "(or trust_remote_code: true in a pipeline step)",
        )
    return cfg.model_copy(update={"trust_remote_code": bool(allow)}) if allow else cfg
