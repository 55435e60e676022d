"""`adqa-data info`: what a workspace holds: items by dataset, source and type, durations, quarantine."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..core.schema import QUARANTINE
from ..core.workspace import PART_GLOB, Workspace, read_table


def _counts(values: list[Any]) -> dict[str, int]:
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


def quarantine_of(ws: Workspace, dataset: str) -> list[dict[str, Any]]:
    """Quarantined rows of every stage for one dataset (`quarantine/<dataset>/<stage>/`, and one level
    deeper for stages with named sets, e.g. `rollout/<name>/`)."""
    base = ws.table_dir("quarantine", dataset)
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


def info(ws: Workspace, dataset: str | None = None) -> dict[str, Any]:
    ws.require_exists()
    names = [ws.dataset(dataset).name] if dataset else sorted(ws.datasets())
    per: dict[str, Any] = {}
    reasons: Counter[str] = Counter()
    n_items = n_quarantined = 0
    for name in names:
        items = ws.items(
            name, columns=["source_dataset", "question_type", "split", "duration_s", "answer_index"]
        )
        cols = items.to_pydict()
        q = quarantine_of(ws, name)
        r = Counter(x["reason"] for x in q)
        reasons.update(r)
        n_items += items.num_rows
        n_quarantined += len(q)
        prov = ws.provenance("download", name) or {}
        per[name] = {
            "items": items.num_rows,
            "quarantined": len(q),
            "quarantine_reasons": dict(sorted(r.items())),
            "input_rows": prov.get("summary", {}).get("input_rows"),
            "by_source": _counts(cols["source_dataset"]),
            "by_question_type": _counts(cols["question_type"]),
            "by_split": _counts(cols["split"]),
            "with_answer": sum(a is not None for a in cols["answer_index"]),
            "duration": _durations(cols["duration_s"]),
        }
    return {
        "workspace": str(ws.root),
        "items": n_items,
        "quarantined": n_quarantined,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "datasets": per,
    }
