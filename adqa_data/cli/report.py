"""`adqa-data report`: the workspace (or one dataset) as one static HTML page that opens from disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import DEFAULT_WS, DatasetOpt, JsonOpt, WorkspaceOpt, app, print_json
from .render import log


@app.command()
def report(
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--out-dir",
            help="Folder for the report (default: <workspace>/report/, or <workspace>/report/<dataset>/ with -d).",
        ),
    ] = None,
    audio: Annotated[
        str,
        typer.Option(
            "--audio",
            help="copy (default: the clips are copied next to the page) | link (symbolic links to the dataset's files) | none.",
        ),
    ] = "copy",
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One static HTML page per workspace (or per dataset with -d), opened from disk without a server or a
    network: items and quarantine, the panel and the weak / strong split, the prompt sets' balance, the
    rollout groups (filterable; each completion's parse highlighted, its rewards and advantage, the clip
    and where the reasoning attended along it), training curves, and eval's accuracy, silence gap and
    letter confusion. Needs plotly (pip install 'adqa-data[report]'); `stats` stays the terminal view.
    """
    from ..core.errors import UserError
    from ..core.workspace import Workspace
    from ..report import AUDIO_MODES, build_report

    if audio not in AUDIO_MODES:
        raise UserError(f"unknown --audio {audio!r}", fix=f"use one of: {', '.join(AUDIO_MODES)}")
    result = build_report(Workspace(workspace), dataset, out_dir, audio)  # type: ignore[arg-type]
    if as_json:
        print_json(result.to_dict())
        return
    sets = ", ".join(f"{k} ({n} groups)" for k, n in result.rollout_sets.items()) or "no rollout set"
    log(f"{len(result.datasets)} dataset(s); {sets}; {result.clips} clip(s)")
    print(result.page)
