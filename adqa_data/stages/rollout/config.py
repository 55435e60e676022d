"""Rollout settings: every knob of `adqa-data rollout` with its default and why, and how a YAML file
(`--config`, e.g. pipelines/rollout.yaml) and command-line options combine into one `RolloutConfig`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ...core.config_files import load_settings
from ...core.errors import UserError
from ...inference.backend_settings import BackendSettings
from ...mcq.advantages import DEFAULT_EPS, DEFAULT_MIN_SPREAD, DEFAULT_SCALE, Baseline, Scale, spread_warning
from ...rewards import DEFAULT_WEIGHTS, AnchoringConfig
from ...rewards.anchoring import AnchoringRows
from ...rewards.plugins import check_weights

FIX = "see 'adqa-data rollout --help' and pipelines/rollout.yaml"
# Settings added after rollout sets were first recorded, with the value a set recorded before then was
# made with (group scaling, no minimum spread), which is not today's default. A record read back
# (`contract.recorded_config`) takes these for a setting it lacks, and `RolloutConfig`'s defaults for any
# other.
RECORDED_BEFORE: dict[str, Any] = {"scale": "group", "min_spread": 0.0}


class RolloutConfig(BackendSettings):
    """Every rollout setting with its default and the reason for it. YAML files (`--config`) hold these
    keys; command-line options override them."""

    k: int = Field(4, ge=1, description="completions per prompt; the DCASE 2026 MiMo-Audio report uses K=4")
    temperature: float = Field(
        1.0,
        gt=0,
        description="1.0 samples the policy itself, so the stored "
        "log-probs are the policy's and GRPO's importance ratio needs no correction",
    )
    top_p: float = Field(1.0, gt=0, le=1, description="1.0 = no nucleus truncation, for the same reason")
    max_new_tokens: int = Field(512, ge=1, description="room for concise reasoning plus the answer block")
    seed: int = Field(0, description="completion s of item i uses a generator seeded by (seed, item_id, s)")
    prompt_style: str = Field("think", description="reason in <think>, then one letter in <answer>")
    rewards: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="reward name (or plugin module:function) -> weight of its column in the total",
    )
    baseline: Baseline = Field("mean", description="GRPO mean; RLOO leave-one-out")
    scale: Scale = Field(
        DEFAULT_SCALE,
        description="advantage divisor, TRL's scale_rewards: batch = the std of the shard's rewards (noise in "
        "one group stays small), group = the group's std (GRPO), none = raw differences (Dr. GRPO)",
    )
    min_spread: float = Field(
        DEFAULT_MIN_SPREAD,
        ge=0,
        allow_inf_nan=False,
        description="groups whose total rewards span less than this (total-reward units) get advantage 0 "
        "and zero_signal; 0 = only groups that are exactly equal",
    )
    std: Literal["sample", "population"] = Field("sample", description="sample std = TRL's GRPOTrainer")
    eps: float = Field(
        DEFAULT_EPS, ge=0, allow_inf_nan=False, description="added to the std, as TRL: bounds advantages"
    )
    anchoring_layers: str | int | list[int] = Field(
        "deep",
        description="decoder layers whose attention is averaged: 'deep' = the last quarter, k = last k",
    )
    anchoring_ar_threshold: float = Field(1.0, gt=0, description="AR: multiple of uniform attention")
    anchoring_entropy_floor: float = Field(0.5, ge=0, lt=1, description="ENT earns nothing below this")
    anchoring_batch_size: int = Field(4, ge=1, description="completions per anchoring forward")
    anchoring_rows: AnchoringRows = Field(
        "reasoning",
        description="query rows of the anchoring map: reasoning = the <think> content (else the text "
        "before <answer>, else the whole text; no reasoning scores 0), the quantity the reward measures; "
        "all = every completion token, answer tags and end token included",
    )
    shard_size: int = Field(
        64,
        ge=1,
        description="groups per shard: the unit of resume, of a Ray task and the batch of scale=batch",
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
        description="items whose prompt (question and options) is longer in the policy's tokens are "
        "quarantined (prompt_too_long) instead of slowing the whole run",
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

    @field_validator("rewards")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        return check_weights(v)

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline_alias(cls, v: Any) -> Any:
        return v.replace("-", "_") if isinstance(v, str) else v

    def anchoring_config(self) -> AnchoringConfig:
        return AnchoringConfig(
            ar_threshold=self.anchoring_ar_threshold,
            entropy_floor=self.anchoring_entropy_floor,
            rows=self.anchoring_rows,
        )

    def run_config(self) -> dict[str, Any]:
        """What decides the output: everything but `backend_options` and the permission to run remote
        code (it decides whether the run may load its model, not what the run writes)."""
        exclude = {"backend_options", "trust_remote_code"} | ({"codec"} if self.codec is None else set())
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
