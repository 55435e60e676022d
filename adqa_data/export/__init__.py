"""`adqa-data export`: any workspace table as a Hugging Face dataset, in the layout a trainer reads.

Formats (one module each): `native` (a table as it is), `verl` (verl's RL dataset), `trl` (GRPOTrainer
prompts and completion logs), `groups` (one row per rollout group, offline GRPO), `sft` (chat-format SFT
rows with the chain of thought). Every export is a folder in the Hub's layout with a generated dataset
card (`card.py`), is loaded back and compared before anything is reported or pushed (`writer.py`), and
can be pushed with `--push-to-hub REPO [--private]`.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..workspace import Workspace
from .base import Built, ExportOptions

FORMATS = ("native", "verl", "trl", "groups", "sft")

__all__ = ["FORMATS", "Built", "ExportOptions", "ExportResult", "export"]


@dataclass
class ExportResult:
    dataset: str
    format: str
    out: str | None  # the folder written (None when it was a temporary folder for a push only)
    rows: dict[str, int]  # config -> rows
    check: dict[str, Any]  # the load-back comparison (writer.verify)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    pushed_to: str | None = None


def build(ws: Workspace, dataset: str, fmt: str, options: ExportOptions) -> Built:
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}", fix=f"use one of: {', '.join(FORMATS)}")
    if fmt == "native" and not options.table:
        raise UserError("--format native needs --table", fix="e.g. --table item_scores")
    module = importlib.import_module(f"{__name__}.{fmt}")
    return module.build(ws, dataset, options)


def export(
    ws: Workspace,
    fmt: str,
    dataset: str | None = None,
    options: ExportOptions | None = None,
    out: str | Path | None = None,
    push_to_hub: str | None = None,
    private: bool = False,
    title: str | None = None,
) -> ExportResult:
    """Build the rows, write the folder with its card, check it by loading it back, push it when asked.

    A failed check raises (and pushes nothing): an export that does not load back as written is a bug."""
    from ..stages.stats import stats
    from .card import render_card
    from .writer import push, verify, write_folder

    if out is None and push_to_hub is None:
        raise UserError("nowhere to export to", fix="pass --out DIR, --push-to-hub REPO, or both")
    ws.require_exists()
    options = options or ExportOptions()
    ds = ws.dataset(dataset).name
    built = build(ws, ds, fmt, options)
    card = render_card(
        ws=ws,
        dataset=ds,
        fmt=fmt,
        built=built,
        split=options.split_name,
        title=title,
        stats_report=stats(ws, ds),
    )
    import datasets

    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the CLI's output is the report, not datasets' per-file bars
    tmp = None if out is not None else tempfile.mkdtemp(prefix="adqa-export-")
    folder = Path(out if out is not None else tmp).expanduser().absolute()  # type: ignore[arg-type]
    try:
        files = write_folder(folder, built.configs, options.split_name, card)
        check = verify(folder, built.configs, options.split_name)
        if not check["ok"]:
            raise UserError(
                f"the export in {folder} does not load back as written: {check}",
                fix="this is a bug in adqa-data; please report it with the folder",
            )
        pushed = None
        if push_to_hub:
            pushed = push(folder, push_to_hub, private, message=f"adqa-data export --format {fmt} ({ds})")
        return ExportResult(
            ds,
            fmt,
            None if tmp else str(folder),
            {c: t.num_rows for c, t in built.configs.items()},
            check,
            built.notes,
            [] if tmp else [str(f) for f in files],
            pushed,
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if bars_were_on:
            datasets.enable_progress_bars()
