"""The only code that describes the tables `download` writes: the item table and the quarantine records.

`recorded_counts` is what an up-to-date rerun reports, counted from the tables themselves (never only
the provenance record, which could disagree with them); `describe` is `stats`' items section and
`overview` what `info` shows of a dataset; both read every stage's quarantine through `quarantine_of`.
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


def _tally(values: list[Any]) -> dict[str, int]:
    return dict(sorted(Counter("(none)" if v is None else str(v) for v in values).items()))


def _durations(seconds: list[float]) -> dict[str, float]:
    import numpy as np

    if not seconds:
        return {"total_h": 0.0}
    d = np.asarray(seconds)
    return {
        "total_h": round(float(d.sum()) / 3600, 4),
        "min_s": round(float(d.min()), 3),
        "median_s": round(float(np.median(d)), 3),
        "p95_s": round(float(np.percentile(d, 95)), 3),
        "max_s": round(float(d.max()), 3),
    }


def overview(ws: Workspace, name: str) -> dict[str, Any]:
    """`info`'s view of one dataset: items by source, question type and split, durations, quarantine of
    every stage by reason."""
    items = ws.items(name, columns=["source_dataset", "question_type", "split", "duration_s", "answer_index"])
    cols = items.to_pydict()
    q = quarantine_of(ws, name)
    prov = ws.provenance(STAGE, name) or {}
    return {
        "items": items.num_rows,
        "quarantined": len(q),
        "quarantine_reasons": dict(sorted(Counter(x["reason"] for x in q).items())),
        "input_rows": prov.get("summary", {}).get("input_rows"),
        "by_source": _tally(cols["source_dataset"]),
        "by_question_type": _tally(cols["question_type"]),
        "by_split": _tally(cols["split"]),
        "with_answer": sum(a is not None for a in cols["answer_index"]),
        "duration": _durations(cols["duration_s"]),
    }


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
