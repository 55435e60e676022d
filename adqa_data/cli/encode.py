"""`adqa-data encode`: RVQ codes into the content-addressed cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import (
    DEFAULT_WS,
    DatasetOpt,
    EngineOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    print_json,
)


@app.command()
def encode(
    codec: Annotated[
        str,
        typer.Option(
            "--codec",
            help="mimo-audio (default) | mimi | encodec | dac | xcodec, or FAMILY:HUB_ID_OR_DIR (optionally @REVISION), or a hub id / directory.",
        ),
    ] = "mimo-audio",
    num_codebooks: Annotated[
        int | None,
        typer.Option(
            "--num-codebooks",
            "-n",
            help="Keep the first N RVQ codebooks (default: 8 for mimo-audio, else all).",
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="Code cache directory, shareable between workspaces (default: <workspace>/cache/codes).",
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda.")] = "cpu",
    dtype: Annotated[
        str, typer.Option("--dtype", help="auto (bf16 on cuda, fp32 on cpu) | float32 | float16 | bfloat16.")
    ] = "auto",
    batch_seconds: Annotated[
        float | None,
        typer.Option(
            "--batch-seconds", help="Padded audio per model call (default: 30 on cpu, 600 on cuda)."
        ),
    ] = None,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", help="Clips per model call at most.")
    ] = 64,
    decode_workers: Annotated[
        int, typer.Option("--decode-workers", help="Threads decoding and resampling ahead of the codec.")
    ] = 2,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help="torch CPU threads for the codec (default on cpu: the cores left after --decode-workers, at least 1).",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode each distinct clip once and cache its RVQ codes by content; index items to their codes.

    Reruns are cache hits, a killed run resumes from its finished shards, bad audio is quarantined.
    """
    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.encode import encode as run_encode

    check_engine(engine)
    options_checked()
    with progress_bar("encoding audio", "clips") as on_progress:
        res = run_encode(
            Workspace(workspace),
            dataset,
            codec=codec,
            num_codebooks=num_codebooks,
            cache_dir=cache,
            device=device,
            dtype=dtype,
            batch_seconds=batch_seconds,
            max_batch_size=max_batch_size,
            decode_workers=decode_workers,
            threads=threads,
            engine=check_engine(engine),
            force=force,
            on_progress=on_progress,
        )
    summary = {k: v for k, v in res.__dict__.items() if k != "provenance"}
    summary["quarantine_reasons"] = summary.pop("reasons")
    if as_json:
        print_json(summary)
    elif res.up_to_date:
        render.log(
            f"up to date: {res.dataset} under {res.codec_key} ({res.indexed} items indexed, "
            f"{res.quarantined} quarantined); --force redoes it"
        )
    else:
        speed = res.audio_seconds / res.seconds if res.seconds else 0.0
        render.result(
            f"{res.dataset} -> {res.codec_key}: {res.indexed} items indexed, {res.quarantined} quarantined; "
            f"{res.distinct_audio} distinct clips: {res.cache_hits} cached, {res.encoded} encoded "
            f"({res.audio_seconds:.0f} s of audio, {speed:.1f} s/s, padding x{res.padding_waste:.3f}) "
            f"in {res.seconds:.1f} s"
        )
        if res.reasons:
            render.counts("quarantined items", "reason", res.reasons)
        render.result(f"cache: {res.cache_dir}")
