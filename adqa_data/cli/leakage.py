"""`adqa-data check-leakage`: training items whose audio or question is also in a dev or evaluation set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..stages.leakage.config import LeakageConfig
from . import render
from .app import DEFAULT_WS, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json
from .options import build_settings, settings_options
from .stage_run import run_stage, run_state

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.leakage import LeakageResult


@app.command("check-leakage")
@settings_options(LeakageConfig)
def check_leakage(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Flag training items whose audio (same bytes, or the same recording resampled / re-encoded, by a
    spectral fingerprint) or question + options (case, spacing and punctuation ignored) also appear in a
    dev or evaluation dataset of the workspace.

    Writes leakage/<dataset>/part-00000.parquet (one row per training item, method and matching dev/eval
    item); 'sample' then leaves the flagged items out. Fingerprints are cached per dataset.
    """
    from ..stages.leakage import run

    config = build_settings(LeakageConfig, settings, "check-leakage")
    res = run_stage(run, workspace, config, progress=("fingerprint clips", "clips"), force=force)
    if as_json:
        print_json(res)
        return
    show(res)


def show(res: LeakageResult) -> None:
    state = run_state(res.up_to_date, f"{res.seconds:.1f} s")
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
