"""`adqa-data export`: any workspace table as a Hugging Face dataset, in the layout a trainer reads.

Formats (one module each): `native` (a table as it is), `verl` (verl's RL dataset), `trl` (GRPOTrainer
prompts and completion logs), `groups` (one row per rollout group, offline GRPO), `sft` (chat-format SFT
rows with the chain of thought). Every export is a folder in the Hub's layout with a generated dataset
card (`card.py`), is loaded back and compared before anything is reported or pushed (`writer.py`), and
can be pushed with `--push-to-hub REPO [--private]`. `--out` replaces only a folder an export wrote, and
only once the new export is complete (`folder.py`).

A new format is one module here with `build(ws, dataset, options) -> Built` (see `base.py`), optionally
`check(options)` for option errors to raise before any work, and one entry in `FORMATS`.
"""

from __future__ import annotations

import importlib
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..core.names import safe_name
from ..core.workspace import Workspace
from .base import Built
from .config import ExportConfig, ExportOptions

# format name -> module of this package that builds its rows (the one place a format is registered)
FORMATS: dict[str, str] = {"native": "native", "verl": "verl", "trl": "trl", "groups": "groups", "sft": "sft"}
FORMATS["swift"] = "swift"  # ms-swift SFT + GRPO rows (a line of its own so the branches merge cleanly)

__all__ = ["FORMATS", "Built", "ExportConfig", "ExportOptions", "ExportResult", "export", "run"]


@dataclass
class ExportResult:
    dataset: str
    format: str
    out: str | None  # the folder written (None when it was a temporary folder for a push only)
    rows: dict[str, int] = field(default_factory=dict)  # config -> rows
    check: dict[str, Any] = field(default_factory=dict)  # the load-back comparison (writer.verify)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    pushed_to: str | None = None


def format_module(fmt: str) -> Any:
    """The module of a registered format; its `check(options)`, when it has one, has run."""
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}", fix=f"use one of: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{FORMATS[fmt]}")


def check_options(fmt: str, options: ExportOptions) -> Any:
    # the split name becomes a file name (data/<config>/<split>-00000-of-00001.parquet): one plain
    # component, and one Hugging Face accepts as a split (word characters, dot-separated)
    split = safe_name(options.split_name, "--split-name")
    if not re.fullmatch(r"\w+(\.\w+)*", split):
        raise UserError(
            f"--split-name {split!r} is not a Hugging Face split name",
            fix="use letters, digits and _ (dots between words), e.g. train or validation",
        )
    module = format_module(fmt)
    if hasattr(module, "check"):
        module.check(options)
    return module


def build(ws: Workspace, dataset: str, fmt: str, options: ExportOptions) -> Built:
    return check_options(fmt, options).build(ws, dataset, options)


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
    """`run` with the format, the dataset, the format's `options` and the destination as arguments: the
    library's shorthand."""
    from ..core.config_files import shorthand_config

    given = {"format": fmt, "dataset": dataset, "out_dir": out, "push_to_hub": push_to_hub, "title": title}
    config, _ = shorthand_config(ExportConfig, options, "export settings", {**given, "private": private})
    return run(ws, config)


def run(ws: Workspace, config: ExportConfig) -> ExportResult:
    """Build the rows, write the folder with its card, check it by loading it back, push it when asked.

    A failed check raises (and pushes nothing): an export that does not load back as written is a bug."""
    from ..core.atomic_files import check_output_place
    from ..stages.stats import stats
    from .card import render_card
    from .folder import check_target, identity, write_replacing
    from .writer import check_hub, copy_files, push, verify, write_folder

    fmt, out, push_to_hub = config.format, config.out_dir, config.push_to_hub
    if out is None and push_to_hub is None:
        raise UserError("nowhere to export to", fix="pass --out DIR, --push-to-hub REPO, or both")
    ws.require_exists()
    options = config.options()
    ds = ws.dataset(config.dataset).name
    check_options(fmt, options)
    folder = None if out is None else Path(out).expanduser().absolute()
    if folder is not None:
        check_target(folder)  # before any work: refuse a folder the export may not replace
        check_output_place(
            folder,
            ws.root,
            ws.root / "exports",
            "the export",
            "choose a folder under <workspace>/exports/ or outside the workspace",
        )
    if push_to_hub:
        check_hub(push_to_hub)  # before anything is written: reachable, with a valid token
    built = build(ws, ds, fmt, options)
    card = render_card(
        ws=ws,
        dataset=ds,
        fmt=fmt,
        built=built,
        split=options.split_name,
        title=config.title,
        stats_report=stats(ws, ds),
    )
    ident = identity(fmt, ds, options.table if fmt == "native" else None, list(built.configs))
    import datasets

    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the CLI's output is the report, not datasets' per-file bars

    def write_and_check(target: Path) -> tuple[list[Path], dict[str, Any]]:
        files = write_folder(target, built.configs, options.split_name, card, ident)
        copy_files(target, built.files)
        check = verify(target, built.configs, options.split_name)
        if not check["ok"]:
            raise UserError(
                f"the export in {target} does not load back as written: {check}",
                fix="this is a bug in adqa-data; please report it with the folder",
            )
        return [folder / f.relative_to(target) if folder else f for f in files], check

    tmp = None
    try:
        if folder is not None:
            files, check = write_replacing(folder, write_and_check)
            where = folder
        else:
            tmp = Path(tempfile.mkdtemp(prefix="adqa-export-"))
            where = tmp / "export"
            files, check = write_and_check(where)
        pushed = None
        if push_to_hub:
            pushed = push(
                where, push_to_hub, config.private, message=f"adqa-data export --format {fmt} ({ds})"
            )
        return ExportResult(
            dataset=ds,
            format=fmt,
            out=None if folder is None else str(folder),
            rows={c: t.num_rows for c, t in built.configs.items()},
            check=check,
            notes=built.notes,
            files=[] if folder is None else [str(f) for f in files],
            pushed_to=pushed,
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if bars_were_on:
            datasets.enable_progress_bars()
