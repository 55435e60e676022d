"""`adqa-data submit` and `adqa-data validate-submission`: the DCASE 2026 Task 5 CSV, written and checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..stages.submit.config import SubmitConfig
from . import render
from .app import DEFAULT_WS, DatasetOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.submit import SubmitResult, ValidationReport


@app.command()
@settings_options(SubmitConfig)
def submit(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the challenge CSV (header question,answer; one row per item; the exact option text).

    The answer is the eval run's vote with the clip; an item without a credited answer gets the
    letter-probability argmax when 'eval --letter-scores' recorded it, else its first option, and every
    such fallback is counted. The file is validated before and after it is written.
    """
    from ..core.workspace import Workspace
    from ..stages.submit import run

    config = build_settings(SubmitConfig, settings, "submit")
    options_checked()
    res = run(Workspace(workspace), config, force=force)
    if as_json:
        print_json(res)
        return
    show_submit(res)


def show_submit(res: SubmitResult) -> None:
    state = "up to date" if res.up_to_date else "written and validated"
    render.result(f"{res.path}: {res.items} rows, {state}")
    rows = [("answered by the model's vote", res.predicted)]
    rows += [(f"fallback: {kind}", n) for kind, n in res.fallbacks.items()]
    rows += [("  of these, no prediction row at all", res.no_prediction_row)] if res.no_prediction_row else []
    render.table(f"{res.dataset} / {res.predictions}", ["answers", "items"], rows)
    for kind, ids in res.fallback_items.items():
        more = " ..." if res.fallbacks[kind] > len(ids) else ""
        render.log(f"{kind}: {', '.join(ids)}{more}")
    if res.accuracy is not None:
        render.log(f"accuracy of this file against the dataset's answers: {render.pct(res.accuracy)}")


@app.command("validate-submission")
def validate_submission(
    file: Annotated[Path, typer.Argument(help="The submission CSV to check.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a submission CSV made anywhere against a dataset: UTF-8, header question,answer, every item
    exactly once, every answer verbatim one of its options. Lists every problem with its line number;
    exits 1 when there is any."""
    from ..core.workspace import Workspace
    from ..stages.submit import validate_submission as run_validate

    report = run_validate(Workspace(workspace), file, dataset)
    if as_json:
        print_json(report.to_json())
    else:
        show_validation(report)
    if not report.ok:
        raise typer.Exit(1)


def show_validation(report: ValidationReport) -> None:
    if report.ok:
        render.result(
            f"{render.printable(report.path)}: valid ({report.rows} rows, every one of the {report.expected_items} items "
            f"of {report.dataset} once, answers verbatim)"
        )
        return
    render.table(
        f"{render.printable(report.path)}: {len(report.findings)} problem(s)",
        ["line", "problem", "item", "detail"],
        [(f.line if f.line is not None else "-", f.kind, f.item_id or "", f.detail) for f in report.findings],
        right=["line"],
    )
    render.table("problems by kind", ["problem", "count"], list(report.counts().items()))
