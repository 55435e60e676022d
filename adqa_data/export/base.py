"""The contract between the export formats and the writer: options in, named Arrow tables out.

A format module has one function `build(ws, dataset, options) -> Built`. It only shapes rows; writing the
Hugging Face dataset folder, the dataset card, the load-back check and the push are the same for every
format (`adqa_data.export.writer`, `adqa_data.export.card`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .config import ExportOptions

__all__ = ["Built", "ExportOptions"]


@dataclass
class Built:
    """What a format produced: one Arrow table per dataset config, and what the card says about it."""

    configs: dict[str, pa.Table]  # config name -> rows (written as one split, `ExportOptions.split_name`)
    what: str  # a paragraph for the card: what the rows are and who reads them
    # (stage, unit) the rows come from: the provenance chain starts there
    sources: list[tuple[str, str | None]]
    item_ids: list[str] | None = None  # items the rows are about (licence fields); None = the whole dataset
    notes: list[str] = field(default_factory=list)  # decisions and counts worth a line in the card and report
    usage: str = ""  # a short code sample for the card
    # files copied into the export beside the data (path inside the folder -> source file), e.g. clips
    files: dict[str, Path] = field(default_factory=dict)
