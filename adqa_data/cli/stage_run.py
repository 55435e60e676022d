"""What every stage command does once it has built its settings: the engine checked, the options marked
checked (a pipeline's check pass stops there), the stage's `run` under a progress bar; and the line that
says what the run did."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from . import render
from .app import options_checked

R = TypeVar("R")

UP_TO_DATE = "up to date (--force redoes it)"


def run_stage(
    run: Callable[..., R],
    workspace: Path,
    config: Any,
    *,
    progress: tuple[str, str],
    force: bool,
    engine: str | None = None,
    warnings: Iterable[str] = (),
    **keywords: Any,
) -> R:
    """`run(Workspace(workspace), config, force=, on_progress=, **keywords)` (and `engine=` for a stage
    that has engines) once the engine and the options are checked, with `progress` (what, unit) on stderr; `warnings` (the settings' own, e.g.
    rollout's) logged after the check, so a pipeline's check pass does not print them."""
    from rich.markup import escape

    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace

    if engine is not None:
        keywords["engine"] = check_engine(engine)
    options_checked()
    for message in warnings:
        render.log(f"[yellow]warning:[/] {escape(message)}")
    with progress_bar(*progress) as on_progress:
        return run(Workspace(workspace), config, force=force, on_progress=on_progress, **keywords)


def run_state(up_to_date: bool, work: str) -> str:
    """What a run did: `work`, or that it was up to date and how to redo it."""
    return UP_TO_DATE if up_to_date else work


def shards_state(res: Any) -> str:
    """`run_state` of a sharded stage's result (eval, rollout): shards written of all, and the time."""
    return run_state(
        res.up_to_date, f"{res.shards_written} of {res.shards} shards written, {res.seconds:.1f} s"
    )
