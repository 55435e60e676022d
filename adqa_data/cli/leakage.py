"""`adqa-data check-leakage`: training items whose audio or question is also in a dev or evaluation set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from . import render
from .app import DEFAULT_WS, DatasetOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.leakage import LeakageResult


@app.command("check-leakage")
def check_leakage(
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="Dev/eval dataset to check against, repeatable (default: every dev and eval dataset of the workspace).",
        ),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method", help="audio_sha256 | audio_fingerprint | text, repeatable (default: all three)."
        ),
    ] = None,
    template_min: Annotated[
        int,
        typer.Option(
            "--template-min",
            help="A question + options text shared by this many reference items is a template, not flagged (0: flag every text match).",
        ),
    ] = 3,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes fingerprinting audio (default 1).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Flag training items whose audio (same bytes, or the same recording resampled / re-encoded, by a
    spectral fingerprint) or question + options (case, spacing and punctuation ignored) also appear in a
    dev or evaluation dataset of the workspace.

    Writes leakage/<dataset>/part-00000.parquet (one row per training item, method and matching dev/eval
    item); 'sample' then leaves the flagged items out. Fingerprints are cached per dataset.
    """
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.leakage import METHODS
    from ..stages.leakage import check_leakage as run_check

    with progress_bar("fingerprint clips", "clips") as on_progress:
        res = run_check(
            Workspace(workspace),
            dataset,
            against,
            method or METHODS,
            template_min=template_min,
            workers=workers,
            force=force,
            on_progress=on_progress,
        )
    if as_json:
        print_json(res)
        return
    show(res)


def show(res: LeakageResult) -> None:
    state = "up to date (--force redoes it)" if res.up_to_date else f"{res.seconds:.1f} s"
    render.result(
        f"{res.dataset}: {res.flagged_items} of {res.items} items flagged against "
        f"{', '.join(res.against)} ({res.rows} matches); {state}"
    )
    rows = [(f"method: {m}", n) for m, n in res.by_method.items()]
    rows += [(f"against: {d}", n) for d, n in res.by_reference.items()]
    render.table("flagged training items", ["by", "items"], rows)
    if res.template_matches:
        render.log(
            f"{res.template_matches} items share only a templated question + options text (not flagged)"
        )
    if res.fingerprint_errors:
        render.log(f"{res.fingerprint_errors} clips could not be decoded and were not fingerprint-checked")
    render.log(
        f"output: {res.out_dir}; 'adqa-data sample' now leaves the flagged items out (--keep-leaked keeps them)"
    )
