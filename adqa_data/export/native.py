"""`--format native`: any workspace table as it is, every column and type kept.

Tables with sub-folders (quarantine by stage, votes by model and condition, prompt and rollout sets by
name) are read whole unless `--unit` names one sub-folder; prompt and rollout sets have no column that
tells the sets apart, so several of them need `--unit`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ..core.errors import UserError
from ..core.schema import TABLES, spec
from ..core.workspace import Workspace, read_table, shard_paths
from .base import Built, ExportOptions

# every table under <workspace>/<table>/<dataset>/ (the codes cache is content-addressed, shared by datasets)
NOT_PER_DATASET = ("codes",)
STAGE_OF = {
    "probes": "download",
    "items": "download",
    "quarantine": "download",
    "code_index": "encode",
    "votes": "filter",
    "item_scores": "filter",
    "filter_audit": "filter",
    "prompts": "sample",
    "rollouts": "rollout",
    "predictions": "eval",
    "leakage": "check-leakage",
    "audio_fingerprints": "audio-fingerprint",
}
SETS = ("prompts", "rollouts", "predictions")  # sub-folders are named sets without a distinguishing column


def _leaves(base: Path) -> list[Path]:
    """Folders under `base` (itself included) that hold shards, hidden (staging) folders skipped."""
    if not base.is_dir():
        return []
    out = [base] if shard_paths(base) else []
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out += _leaves(d)
    return out


def check(options: ExportOptions) -> None:
    if not options.table:
        raise UserError("--format native needs --table", fix="e.g. --table item_scores")


def build(ws: Workspace, dataset: str, options: ExportOptions) -> Built:
    name = options.table
    exportable = [t for t in TABLES if t not in NOT_PER_DATASET]
    if name not in exportable:
        raise UserError(f"--table {name!r} cannot be exported", fix=f"use one of: {', '.join(exportable)}")
    table_spec = spec(name)
    sub = [s for s in (options.unit or "").split("/") if s]
    base = ws.table_dir(name, dataset, *sub)
    leaves = _leaves(base)
    if not leaves:
        raise UserError(
            f"dataset {dataset!r} has no {name} table{f' under {options.unit}' if sub else ''}",
            fix=f"run 'adqa-data {STAGE_OF[name]}' first, or check --unit",
        )
    if name in SETS and len(leaves) > 1:
        names = ", ".join(str(p.relative_to(ws.table_dir(name, dataset))) for p in leaves)
        raise UserError(f"dataset {dataset!r} has several {name} sets: {names}", fix="name one with --unit")
    table = pa.concat_tables([read_table(d, table_spec) for d in leaves], promote_options="default")
    unit = leaves[0].name if name in SETS else None
    ids = table.column("item_id").to_pylist() if "item_id" in table.column_names else None
    return Built(
        configs={"default": table},
        what=f"The `{name}` table of dataset `{dataset}`{f' ({options.unit})' if sub else ''}, exported as it is in "
        f"the workspace: {TABLES[name].doc}",
        sources=[(STAGE_OF.get(name, name), unit)],
        item_ids=sorted(set(ids)) if ids else None,
        usage=f'ds = load_dataset("<repo or folder>", split="{options.split_name}")',
    )
