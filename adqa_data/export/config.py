"""`export`'s settings, declared once: what a format shapes its rows with (`ExportOptions`) and, around
them, what the command sets (`ExportConfig`: the format, the dataset, where the export goes). The
command's options and a pipeline step's keys come from here."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..core.config_files import dataset_field


class ExportOptions(BaseModel):
    """What a format reads besides the workspace. Values a format alone can judge (a split, an audio
    mode, a table) are checked by that format (`check`, `build`), with its own one-line errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    table: str | None = Field(
        None,
        description="for native: the table: items | probes | quarantine | code_index | votes | item_scores | prompts | "
        "rollouts",
    )
    unit: str | None = Field(
        None,
        description="for native: a sub-folder of the table (a prompt or rollout set, a quarantine stage, votes "
        "MODEL/CONDITION)",
    )
    prompts: str | None = Field(
        None,
        description="for verl, trl, sft, swift: this prompt set (default for verl/trl/swift: the only one)",
    )
    rollouts: str | None = Field(None, description="for groups, trl: the rollout set (default: the only one)")
    split: str | None = Field(
        None,
        description="for verl, trl, sft, swift: a split instead: weak | strong | all (default for sft, swift's "
        "sft: weak)",
    )
    split_name: str = Field("train", description="the Hugging Face split the rows are written as")
    prompt_style: str = Field(
        "think", description="for verl, trl, sft: prompt style of the rows (think | letters | audiomcq)"
    )
    audio: str | None = Field(
        None,
        description="how clips travel: embed (waveform) | path | none (default: embed for verl, path otherwise)",
    )
    sample_rate: int = Field(
        16000,
        gt=0,
        description="with --audio embed: the rate of the waveforms, the processor's (16000 for Whisper-based encoders)",
    )
    cot_only: bool = Field(
        False,
        description="for sft: keep only items with a chain of thought",
        json_schema_extra={"cli": ["--cot-only"]},
    )
    rewards: dict[str, float] | None = Field(
        None,
        description="for verl: the reward mix compute_score grades with (default correctness=1.0 "
        "format=0.25, the rollout's default without anchoring, which needs attention and cannot be weighted)",
        json_schema_extra={"cli": ["--reward"]},
    )


class ExportConfig(ExportOptions):
    """An export: the format, the dataset, where it is written or pushed, and the format's options."""

    format: str = Field(
        "native",
        description="the layout: native (a table as it is) | verl | trl | groups | sft | swift",
        json_schema_extra={"cli": ["--format", "-f"]},
    )
    dataset: str | None = dataset_field()
    out_dir: Path | None = Field(
        None,
        description="folder to write the dataset into (Hub layout: README.md + data/)",
        json_schema_extra={"cli": ["--out", "--out-dir", "-o"]},
    )
    push_to_hub: str | None = Field(None, description="also upload it as this Hub dataset repo (user/name)")
    private: bool = Field(
        False, description="create the Hub repo private", json_schema_extra={"cli": ["--private"]}
    )
    title: str | None = Field(None, description="dataset card title")

    def options(self) -> ExportOptions:
        """The format's part of the settings."""
        return ExportOptions(**{k: getattr(self, k) for k in ExportOptions.model_fields})
