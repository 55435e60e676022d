"""`submit`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ...core.stage_settings import DatasetSettings


class SubmitConfig(DatasetSettings):
    """Which prediction set of which dataset becomes the challenge CSV, and where it is written."""

    predictions: str | None = Field(
        None,
        description="prediction set from 'eval' (default: the only one)",
        json_schema_extra={"cli": ["--predictions", "-p"]},
    )
    out: Path | None = Field(
        None,
        description="CSV to write (default: <workspace>/submissions/<dataset>/<predictions>.csv)",
        json_schema_extra={"cli": ["--out", "-o"]},
    )
