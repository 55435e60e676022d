"""The only code that describes the tables `download` writes: the item table and the quarantine records.

`recorded_counts` is what an up-to-date rerun reports, counted from the tables themselves (never only
the provenance record, which could disagree with them); `describe` is `stats`' items section; `info`
and `stats` read every stage's quarantine through `quarantine_of`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

from ...core.frames import counts
from ...core.schema import QUARANTINE
from ...core.workspace import PART_GLOB, Workspace, read_table

STAGE = "download"


def quarantine_of(ws: Workspace, dataset: str, stage: str | None = None) -> list[dict[str, Any]]:
    """Quarantined rows (stage, reason) of every stage for one dataset, or of one `stage`
    (`quarantine/<dataset>/<stage>/`, and one level deeper for stages with named sets, e.g.
    `rollout/<name>/`)."""
    base = ws.table_dir(QUARANTINE.name, dataset, *([stage] if stage else []))
    rows: list[dict[str, Any]] = []
    if base.is_dir():
        dirs = sorted(
            {
                p.parent
                for p in base.rglob(PART_GLOB)
                if not any(part.startswith(".") for part in p.relative_to(base).parts)
            }
        )
        for d in dirs:
            rows += read_table(d, QUARANTINE, columns=["stage", "reason"]).to_pylist()
    return rows


def recorded_counts(ws: Workspace, dataset: str) -> dict[str, Any]:
    """Items, download's quarantined rows and their reasons as the tables hold them; input rows by the
    identity every download keeps (items + quarantined = input rows)."""
    items = ws.items(dataset, columns=["item_id"]).num_rows
    reasons = Counter(r["reason"] for r in quarantine_of(ws, dataset, STAGE))
    quarantined = sum(reasons.values())
    return {
        "input_rows": items + quarantined,
        "items": items,
        "quarantined": quarantined,
        "reasons": dict(sorted(reasons.items())),
    }


def describe(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Items by upstream split, source and question type; quarantine of every stage by stage and reason.
    None when the dataset has neither."""
    items = pl.from_arrow(
        ws.items(dataset, columns=["split", "source_dataset", "question_type", "answer_index"])
    )
    assert isinstance(items, pl.DataFrame)
    quarantine = pl.DataFrame(
        quarantine_of(ws, dataset), schema={"stage": pl.String, "reason": pl.String}, orient="row"
    )
    if items.height == 0 and quarantine.height == 0:
        return None
    prov = ws.provenance(STAGE, dataset) or {}
    return {
        "items": items.height,
        "input_rows": prov.get("summary", {}).get("input_rows"),
        "with_answer": int(items["answer_index"].is_not_null().sum()),
        "by_split": counts(items, "split"),
        "by_source": counts(items, "source_dataset"),
        "by_question_type": counts(items, "question_type"),
        "quarantined": quarantine.height,
        "quarantine": counts(quarantine, "stage", "reason"),
    }
