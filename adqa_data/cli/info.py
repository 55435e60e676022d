"""`adqa-data info`: what a workspace holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..stages.info.config import InfoConfig
from . import render
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.info import InfoResult


@app.command()
@settings_options(InfoConfig)
def info(settings: dict[str, Any], workspace: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Counts by dataset, source and question type; durations; quarantine by reason."""
    from ..core.workspace import Workspace
    from ..stages.info import run

    config = build_settings(InfoConfig, settings, "info")
    options_checked()
    report = run(Workspace(workspace), config)
    print_json(report) if as_json else show(report)


def show(report: InfoResult) -> None:
    """One table per dataset: counts by source, question type, split and quarantine reason; durations."""
    for name, d in report.datasets.items():
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
    if not report.datasets:
        render.log("workspace holds no dataset yet: run 'adqa-data download' first")
