"""`adqa-data info`: what a workspace holds: items by dataset, source and type, durations, quarantine.

Each dataset is described by download's summary (`overview`), the one description of the item and
quarantine tables, so `info` and `stats` count the same rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ...core.workspace import Workspace
from ..download.summary import overview
from .config import InfoConfig


@dataclass
class InfoResult:
    workspace: str
    items: int = 0
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its `overview`


def run(ws: Workspace, config: InfoConfig) -> InfoResult:
    """Every dataset of the workspace (or `config.dataset`) described, and the totals."""
    ws.require_exists()
    names = [ws.dataset(config.dataset).name] if config.dataset else sorted(ws.datasets())
    per = {name: overview(ws, name) for name in names}
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
