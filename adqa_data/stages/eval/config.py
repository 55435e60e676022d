"""Eval settings: every knob of `adqa-data eval` with its default and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ...core.config_files import dataset_field, load_yaml_model, validate_model
from ...inference.backend_settings import BackendSettings

FIX = "see 'adqa-data eval --help'"


class EvalConfig(BackendSettings):
    """How a model is asked and how its answers are read; YAML files (`--config`) hold these keys and
    command-line options override them."""

    dataset: str | None = dataset_field()
    name: str | None = Field(
        None, description="prediction set name (default: <model>-<style>-n<samples>-seed<seed>)"
    )
    parts: Path | None = Field(
        None,
        description="CSV (item_id,part) or JSON (id -> part) naming each item's DCASE dev part (the "
        "manifest records none)",
    )
    prompt_style: str = Field(
        "think",
        description="the think-style prompt the policy is trained with: reason in "
        "<think>, one letter in <answer>; 'audiomcq' for AudioMCQ/R1-AQA checkpoints",
    )
    samples: int = Field(
        1,
        ge=1,
        le=64,
        description="completions per (item, condition); > 1 = self-consistency "
        "(majority vote over the parsed answers)",
    )
    temperature: float | None = Field(
        None,
        ge=0,
        description="default: 0 (greedy) for one sample, 1.0 for several "
        "(identical greedy samples would make the vote meaningless)",
    )
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling; 1.0 = no truncation")
    max_new_tokens: int = Field(
        512, ge=1, description="completion length limit: room for concise reasoning plus the answer block"
    )
    seed: int = Field(0, description="sample s of item i under condition c is seeded by (seed, item|c, s)")
    silence: bool | None = Field(
        None,
        description="also answer with the clip replaced by silence (the "
        "audio-dependency gap); default: when the dataset has gold answers",
    )
    silence_seconds: float = Field(
        30.0, gt=0, description="length of the silent clip (the AudioMCQ paper's 30 s)"
    )
    letter_scores: bool = Field(
        False,
        description="also record P(letter) per option (one forward per item, audio "
        "condition): the submission's fallback when an output names no option",
    )
    shard_size: int = Field(64, ge=1, description="items per shard: the unit of resume and of a Ray task")

    @model_validator(mode="after")
    def _vote_needs_sampling(self) -> EvalConfig:
        if self.samples > 1 and self.temperature == 0:
            raise ValueError("samples > 1 with temperature 0 gives identical samples; use a temperature > 0")
        return self

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 1.0

    def run_config(self) -> dict[str, Any]:
        """What decides the output: everything but `backend_options` and where the model runs (the
        dataset and set name are the run's unit; the parts file counts by the parts it names)."""
        cfg = self.model_dump(exclude={"backend_options", "device", "dataset", "name", "parts"})
        cfg["temperature"] = self.effective_temperature
        return cfg


def load_config(path: str | Path | None = None, **overrides: Any) -> EvalConfig:
    """An `EvalConfig` from a YAML file (optional) with `overrides` (None values ignored) on top."""
    if path is not None:
        return load_yaml_model(path, EvalConfig, "eval config", fix=FIX, overrides=overrides)
    data = {k: v for k, v in overrides.items() if v is not None}
    return validate_model(EvalConfig, data, "invalid eval settings", fix=FIX)
