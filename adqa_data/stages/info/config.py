"""`info`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pydantic import Field

from ...core.stage_settings import DatasetSettings


class InfoConfig(DatasetSettings):
    """Which dataset to describe; every dataset of the workspace by default."""

    dataset: str | None = Field(
        None,
        description="dataset name in the workspace (default: every dataset)",
        json_schema_extra={"cli": ["--dataset", "-d"]},
    )
