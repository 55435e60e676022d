"""`sample`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ...core.config_files import dataset_field

SPLITS = ("strong", "weak", "all")


class SampleConfig(BaseModel):
    """Which prompt set to draw: the pool, its size, the balance by question type and the seed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str | None = dataset_field()
    n: int = Field(1000, gt=0, description="number of prompts to draw")
    split: Literal["strong", "weak", "all"] = Field(
        "strong", description="the pool: strong or weak (from 'filter'), or all (every answered item)"
    )
    weights: str | dict[str, float] = Field(
        "uniform",
        description="quota per question type: uniform, proportional (to the pool) or TYPE=W,TYPE=W,...",
    )
    seed: int = Field(0, ge=0, description="seed of the draw (numpy seeds only from a non-negative integer)")
    name: str | None = Field(None, description="prompt set name (default: <split>-<n>-seed<seed>)")
    exclude_leaked: bool | None = Field(
        None,
        description="leave out the items 'check-leakage' flagged (their audio or question is in a dev/eval "
        "set); default: exactly when check-leakage has run on the dataset (--keep-leaked keeps them)",
        json_schema_extra={"cli": ["--exclude-leaked/--keep-leaked"]},
    )
