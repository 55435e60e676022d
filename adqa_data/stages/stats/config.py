"""`stats`' settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from ...core.stage_settings import DatasetSettings

SECTIONS = ("items", "splits", "contribution", "panel", "prompts", "rollouts", "training", "predictions")


class StatsConfig(DatasetSettings):
    """Which dataset to describe, which sections, and whether (and where) to draw the plots."""

    section: list[str] = Field([], description=f"only these sections: {' | '.join(SECTIONS)} (default: all)")
    plots: bool = Field(True, description="write PNG plots (needs matplotlib)")
    out_dir: Path | None = Field(
        None,
        description="folder for the plots (default: <workspace>/stats/<dataset>)",
        json_schema_extra={"cli": ["--out", "--out-dir"]},
    )

    @field_validator("section")
    @classmethod
    def _known_sections(cls, section: list[str]) -> list[str]:
        unknown = sorted(set(section) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown section {', '.join(unknown)} (use one of: {', '.join(SECTIONS)})")
        return section

    def sections(self) -> list[str]:
        """The chosen sections in report order (every one when none is chosen)."""
        return [s for s in SECTIONS if not self.section or s in self.section]
