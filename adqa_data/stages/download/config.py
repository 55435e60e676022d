"""`download`'s settings, declared once: the command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ...core.stage_settings import StageSettings

# longest clip accepted: every known AudioMCQ/DCASE clip is <= 30 s, so 600 s only stops a runaway file
MAX_AUDIO_SECONDS = 600.0
MAPPED_FIELDS = "item_id, question, choices, answer, audio_path, source_dataset, question_type, cot"


class DownloadConfig(StageSettings):
    """Where a dataset comes from, how its rows are read, and the bounds a row must keep."""

    from_dir: Path | None = Field(None, description="local dataset root (manifest + audio folders)")
    hub: str | None = Field(
        None, description="a pinned hub dataset from manifests/, e.g. audiomcq-strongac-geminicot"
    )
    revision: str | None = Field(None, description="override the pinned hub revision")
    layout: str | None = Field(
        None,
        description="the layout: audiomcq | dcase2026-dev | dcase2026-eval | generic (default: detected)",
    )
    name: str | None = Field(None, description="dataset name in the workspace (default: the layout name)")
    manifest: str | None = Field(
        None,
        description="generic layout: the JSONL/Parquet file, relative to the root (may not climb out of "
        "it), or an absolute path",
    )
    mapping: dict[str, str] | None = Field(
        None,
        description=f"generic layout: FIELD=COLUMN (fields: {MAPPED_FIELDS})",
        json_schema_extra={"cli": ["--map"]},
    )
    split: str | None = Field(None, description="generic layout: split name to record")
    max_options: int = Field(
        10,
        ge=2,
        le=10,
        description="quarantine questions with more options than this (too_many_choices); 2-10, the "
        "letters A-J",
    )
    max_text_chars: int = Field(
        10_000,
        ge=1,
        description="quarantine questions whose question plus options exceed this many characters "
        "(text_too_long)",
    )
    max_audio_seconds: float = Field(
        MAX_AUDIO_SECONDS,
        gt=0,
        description="quarantine audio longer than this, declared or decoded (audio_too_long); read from "
        "the header, never loaded whole",
    )
    workers: int | None = Field(
        None, ge=1, description="processes probing audio (default: CPU count; 1 = in-process)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DownloadConfig:
        if (self.from_dir is None) == (self.hub is None):
            raise ValueError("give exactly one source: --from-dir DIR or --hub NAME")
        return self
