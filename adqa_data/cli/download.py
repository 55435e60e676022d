"""`adqa-data download`: a dataset into the canonical item table."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..stages.download.config import DownloadConfig
from . import render
from .app import DEFAULT_WS, EngineOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options


@app.command()
@settings_options(DownloadConfig)
def download(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    engine: EngineOpt = "local",
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit non-zero when any row is quarantined.")
    ] = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Normalise a dataset into the canonical item table; probe every audio file once; quarantine bad rows.

    Sources: --from-dir DIR (AudioMCQ `data.jsonl`, DCASE 2026 `dev.jsonl` / `eval-noanswer.jsonl`, detected
    automatically; or --layout generic with --manifest and --map), or --hub NAME for a pinned hub snapshot.
    """
    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.download import run

    engine = check_engine(engine)
    config = build_settings(DownloadConfig, settings, "download")
    options_checked()
    with progress_bar("probing audio", "files") as on_progress:
        res = run(Workspace(workspace), config, force=force, engine=engine, on_progress=on_progress)
    if as_json:
        print_json(
            {
                "dataset": res.dataset,
                "root": res.root,
                "up_to_date": res.up_to_date,
                "input_rows": res.input_rows,
                "items": res.items,
                "quarantined": res.quarantined,
                "quarantine_reasons": res.reasons,
                "probed_files": res.probed_files,
                "seconds": res.seconds,
            }
        )
    elif res.up_to_date:
        render.log(
            f"up to date: {res.dataset} ({res.items} items, {res.quarantined} quarantined); --force redoes it"
        )
    else:
        render.result(
            f"{res.dataset}: {res.input_rows} rows -> {res.items} items, {res.quarantined} quarantined "
            f"({res.probed_files} files probed, {res.seconds:.1f} s)"
        )
        if res.reasons:
            render.counts("quarantined rows", "reason", res.reasons)
            render.log(f"details: quarantine/{res.dataset}/download/ in the workspace")
    if strict and res.quarantined:
        raise typer.Exit(1)
