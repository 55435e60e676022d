"""The base of every stage's settings model: strict (an unknown key or a NaN is an error, never ignored),
and the one declaration of the `--dataset` / `-d` setting that most stages take."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .config_files import dataset_field


class StageSettings(BaseModel):
    """Settings of one stage: unknown keys and non-finite numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetSettings(StageSettings):
    """Settings of a stage that works on one dataset of the workspace."""

    dataset: str | None = dataset_field()
