"""How rewards become group advantages — reward weights, baseline, divisor, minimum spread — declared once.

The rollout stage computes advantages with `AdvantageSettings` (its defaults are the rollout's); the
trainer may recompute them on stored rollouts with other values, so its settings are the same fields made
optional (`recompute_settings`: None = as the rollout computed them). One declaration, two defaults.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from ..mcq.advantages import DEFAULT_MIN_SPREAD, DEFAULT_SCALE, Baseline, Scale
from . import DEFAULT_WEIGHTS
from .plugins import check_weights


class AdvantageSettings(BaseModel):
    """The rewards a completion earns and how its group turns them into advantages."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rewards: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description="reward NAME=WEIGHT: the weight of its reward_<name> column in the total; the rewards "
        "listed replace the default set. NAME: correctness | format | anchoring | package.module:function "
        "(a plugin)",
        json_schema_extra={"cli": ["--reward"]},
    )
    baseline: Baseline = Field(
        "mean",
        description="advantage baseline: mean (GRPO) or leave_one_out (RLOO; leave-one-out is accepted)",
    )
    scale: Scale = Field(
        DEFAULT_SCALE,
        description="advantage divisor, TRL's scale_rewards: batch = the std of a rollout shard's rewards "
        "(noise in one group stays small), group = the group's std (GRPO), none = raw differences "
        "(Dr. GRPO)",
    )
    min_spread: float = Field(
        DEFAULT_MIN_SPREAD,
        ge=0,
        allow_inf_nan=False,
        description="groups whose total rewards span less than this (total-reward units) get advantage 0 "
        "and zero_signal; 0 = only groups that are exactly equal. The default lies below the smallest "
        "step the default rewards make",
    )

    @field_validator("rewards")
    @classmethod
    def _weights(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return None if v is None else check_weights(v)

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline_alias(cls, v: Any) -> Any:
        return v.replace("-", "_") if isinstance(v, str) else v


def recompute_settings(name: str, note: str) -> type[AdvantageSettings]:
    """`AdvantageSettings` with every field optional, default None, and `note` added to its description
    (what a given value does, what None means): the trainer's view of the same settings."""
    fields: dict[str, Any] = {}
    for field_name, field in AdvantageSettings.model_fields.items():
        info = copy.copy(field)
        info.default, info.default_factory = None, None
        info.annotation = field.annotation | None  # type: ignore[operator]
        info.description = f"{field.description}. {note}"
        fields[field_name] = (info.annotation, info)
    return create_model(name, __base__=AdvantageSettings, __module__=__name__, **fields)
