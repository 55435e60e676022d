"""`adqa-data download`: a dataset into the canonical item table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import (
    DEFAULT_WS,
    EngineOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    parse_mapping,
    print_json,
)


@app.command()
def download(
    from_dir: Annotated[
        Path | None, typer.Option("--from-dir", help="Local dataset root (manifest + audio folders).")
    ] = None,
    hub: Annotated[
        str | None,
        typer.Option("--hub", help="A pinned hub dataset from manifests/, e.g. audiomcq-strongac-geminicot."),
    ] = None,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Override the pinned hub revision.")
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout", help="audiomcq | dcase2026-dev | dcase2026-eval | generic (default: detected)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Dataset name in the workspace (default: the layout name).")
    ] = None,
    manifest: Annotated[
        str | None,
        typer.Option(
            "--manifest",
            help="Generic layout: the JSONL/Parquet file, relative to the root (may not climb out of it), or an absolute path.",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Generic layout: FIELD=COLUMN, repeatable (fields: item_id, question, choices, answer, audio_path, source_dataset, question_type, cot).",
        ),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Generic layout: split name to record.")
    ] = None,
    max_options: Annotated[
        int,
        typer.Option(
            "--max-options",
            help="Quarantine questions with more options than this (too_many_choices); 2-10, the letters A-J.",
        ),
    ] = 10,
    max_text_chars: Annotated[
        int,
        typer.Option(
            "--max-text-chars",
            help="Quarantine questions whose question plus options exceed this many characters (text_too_long).",
        ),
    ] = 10_000,
    max_audio_seconds: Annotated[
        float,
        typer.Option(
            "--max-audio-seconds",
            help="Quarantine audio longer than this, declared or decoded (audio_too_long); read from the header, never loaded whole.",
        ),
    ] = 600.0,
    workspace: WorkspaceOpt = DEFAULT_WS,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes probing audio (default: CPU count; 1 = in-process)."),
    ] = None,
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
    from ..sources.base import RowLimits
    from ..stages.download import download as run_download

    mapping_fields = parse_mapping(mapping or []) or None
    check_engine(engine)
    options_checked()
    with progress_bar("probing audio", "files") as on_progress:
        res = run_download(
            Workspace(workspace),
            from_dir=from_dir,
            hub=hub,
            revision=revision,
            layout=layout,
            name=name,
            manifest=manifest,
            mapping=mapping_fields,
            split=split,
            engine=check_engine(engine),
            workers=workers,
            force=force,
            on_progress=on_progress,
            limits=RowLimits(max_options=max_options, max_text_chars=max_text_chars),
            max_audio_seconds=max_audio_seconds,
        )
    summary = {
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
    if as_json:
        print_json(summary)
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
