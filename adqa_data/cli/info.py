"""`adqa-data info`: what a workspace holds."""

from __future__ import annotations

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
    from ..stages.info import info as run_info
    from ..stages.info import render
    from ..workspace import Workspace

    report = run_info(Workspace(workspace), dataset)
    print_json(report) if as_json else render(report)
