"""`adqa-data info`: what a workspace holds: items by dataset, source and type, durations, quarantine.

The quarantine of every stage is read through download's summary (`quarantine_of`), the one reader of
that table, so `info` and `stats` count the same rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ...core.workspace import Workspace
from ..download.summary import STAGE as DOWNLOAD
from ..download.summary import quarantine_of
from .config import InfoConfig


@dataclass
class InfoResult:
    workspace: str
    items: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its counts (`describe`)


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


def describe(ws: Workspace, name: str) -> dict[str, Any]:
    """One dataset: items by source, question type and split, durations, quarantine by reason."""
    items = ws.items(name, columns=["source_dataset", "question_type", "split", "duration_s", "answer_index"])
    cols = items.to_pydict()
    q = quarantine_of(ws, name)
    prov = ws.provenance(DOWNLOAD, name) or {}
    return {
        "items": items.num_rows,
        "quarantined": len(q),
        "quarantine_reasons": dict(sorted(Counter(x["reason"] for x in q).items())),
        "input_rows": prov.get("summary", {}).get("input_rows"),
        "by_source": _counts(cols["source_dataset"]),
        "by_question_type": _counts(cols["question_type"]),
        "by_split": _counts(cols["split"]),
        "with_answer": sum(a is not None for a in cols["answer_index"]),
        "duration": _durations(cols["duration_s"]),
    }


def run(ws: Workspace, config: InfoConfig) -> InfoResult:
    """Every dataset of the workspace (or `config.dataset`) described, and the totals."""
    ws.require_exists()
    names = [ws.dataset(config.dataset).name] if config.dataset else sorted(ws.datasets())
    per = {name: describe(ws, name) for name in names}
    reasons: Counter[str] = Counter()
    for d in per.values():
        reasons.update(d["quarantine_reasons"])
    return InfoResult(
        workspace=str(ws.root),
        items=sum(d["items"] for d in per.values()),
        quarantined=sum(d["quarantined"] for d in per.values()),
        quarantine_reasons=dict(sorted(reasons.items())),
        datasets=per,
    )


def info(ws: Workspace, dataset: str | None = None) -> dict[str, Any]:
    """`run` with the dataset as an argument, as a JSON-able dict: the library's shorthand."""
    return asdict(run(ws, InfoConfig(dataset=dataset)))
