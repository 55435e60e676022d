"""`adqa-data info`: what a workspace holds."""

from __future__ import annotations

from typing import Any

from . import render
from .app import (
    DEFAULT_WS,
    DatasetOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    print_json,
)


@app.command()
def info(workspace: WorkspaceOpt = DEFAULT_WS, dataset: DatasetOpt = None, as_json: JsonOpt = False) -> None:
    """Counts by dataset, source and question type; durations; quarantine by reason."""
    from ..core.workspace import Workspace
    from ..stages.info import info as run_info

    report = run_info(Workspace(workspace), dataset)
    print_json(report) if as_json else show(report)


def show(report: dict[str, Any]) -> None:
    """One table per dataset: counts by source, question type, split and quarantine reason; durations."""
    for name, d in report["datasets"].items():
        rows: list[tuple[str, str, object]] = []
        for key, label in (
            ("by_source", "source"),
            ("by_question_type", "question type"),
            ("by_split", "split"),
            ("quarantine_reasons", "quarantine reason"),
        ):
            for value, count in d[key].items():
                rows.append((label, value, count))
                label = ""
        dur = d["duration"]
        rows.append(("duration", "total hours", f"{dur['total_h']:.3f}"))
        rows += [
            ("", k.replace("_s", " (s)"), f"{dur[k]:.2f}")
            for k in ("min_s", "median_s", "p95_s", "max_s")
            if k in dur
        ]
        render.table(
            f"{name}: {d['items']} items, {d['quarantined']} quarantined",
            ["breakdown", "value", "count"],
            rows,
            right=["count"],
        )
    if not report["datasets"]:
        render.log("workspace holds no dataset yet: run 'adqa-data download' first")
