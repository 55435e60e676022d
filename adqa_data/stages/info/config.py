"""`info`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class InfoConfig(BaseModel):
    """Which dataset to describe; every dataset of the workspace by default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str | None = Field(
        None,
        description="dataset name in the workspace (default: every dataset)",
        json_schema_extra={"cli": ["--dataset", "-d"]},
    )
