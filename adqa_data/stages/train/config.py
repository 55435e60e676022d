"""`train`'s settings, declared once: the trainer's (`adqa_data.train.config.TrainConfig`) plus what the
stage trains where — the dataset, the run's name — and, for online runs, the rounds, the prompt set they
slice and the rollout settings each round samples with. The command's options and a pipeline step's keys
come from here; the trainer library gets `train_config()`, the settings that are its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ...train.config import TrainConfig
from ..rollout.config import RolloutConfig

# the settings that apply to online runs only, by field
ONLINE_ONLY = ("prompts", "round_prompts", "rollout")


class TrainStageConfig(TrainConfig):
    """A training run of the stage: the trainer's settings, where it trains, and online rounds."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str | None = Field(
        None,
        description="dataset name in the workspace (default: the only one)",
        json_schema_extra={"cli": ["--dataset", "-d"]},
    )
    name: str | None = Field(
        None,
        description="run name (default: <rollouts>-<method>-seed<seed>; online: "
        "<prompts>-online<ROUNDS>-<method>-seed<seed>)",
    )
    online: int | None = Field(
        None,
        ge=1,
        description="ROUNDS of online GRPO: each round rolls out the next slice of --prompts with the "
        "current weights (rollouts/<dataset>/<name>-round<k>/), then trains on it (default: offline, on "
        "stored rollouts)",
    )
    prompts: str | None = Field(None, description="online: the prompt set to slice (default: the only one)")
    round_prompts: int | None = Field(
        None, ge=1, description="online: prompts per round (default: the set's size / ROUNDS)"
    )
    rollout: RolloutConfig | None = Field(
        None,
        description="online: the rollout settings each round samples with (default: rollout's defaults; "
        "rewards, baseline, scale and min_spread given here override theirs)",
    )

    @model_validator(mode="after")
    def _online_only(self) -> TrainStageConfig:
        given = [k for k in ONLINE_ONLY if getattr(self, k) is not None]
        if self.online is None and given:
            raise ValueError(f"{', '.join(given)} only apply to online training: set online (ROUNDS)")
        return self

    def train_config(self) -> TrainConfig:
        """The trainer's own settings (what the library takes)."""
        return TrainConfig.model_validate(self.model_dump(include=set(TrainConfig.model_fields)))

    def run_config(self) -> dict[str, Any]:
        """The trainer's run key settings; where and how online runs sample is added by the stage."""
        return self.train_config().run_config()


def stage_config(cfg: TrainConfig, **given: Any) -> TrainStageConfig:
    """`cfg` (the trainer's settings, or already a stage config) with the stage settings `given` (None
    values ignored): how the keyword shorthands build their config."""
    data = {**cfg.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    return TrainStageConfig.model_validate(data)
