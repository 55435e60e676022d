"""`adqa-data sample`: a type-balanced prompt set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..stages.sample.config import SampleConfig
from . import render
from .app import DEFAULT_WS, ForceOpt, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.sample import SampleResult


@app.command()
@settings_options(SampleConfig)
def sample(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw a prompt set from a split, balanced by question type, without replacement, seeded."""
    from ..core.workspace import Workspace
    from ..stages.sample import SampleConfig, parse_weights, run

    config = build_settings(SampleConfig, settings, "sample")
    parse_weights(config.weights)
    options_checked()
    res = run(Workspace(workspace), config, force=force)
    if as_json:
        print_json(res)
        return
    if res.up_to_date:
        render.log(f"up to date: prompt set {res.name} ({res.n} prompts); --force redoes it")
    if res.excluded_leaked:
        render.log(
            f"left out {res.excluded_leaked} items flagged by check-leakage (--keep-leaked keeps them)"
        )
    show(res)


def show(res: SampleResult) -> None:
    """The prompt set against its pool, by question type and by source."""
    for title, rows in (("question type", res.by_type), ("source", res.by_source)):
        render.table(
            f"{res.dataset} / {res.name}: chosen against the pool by {title}",
            [title, "pool", "chosen", "share"],
            [(k, v["pool"], v["chosen"], f"{v['chosen'] / max(res.n, 1):.1%}") for k, v in rows.items()],
            right=["share"],
        )
