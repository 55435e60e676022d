"""`adqa-data stats`: the state of one dataset across every stage, as plain JSON-able data (and plots).

Each section is described by the stage that writes its table, so a number means one thing everywhere:

    items        download's summary: items by upstream split, source and type; quarantine by stage
    splits       filter's summary: weak / strong by source and by question type
    contribution filter's summary: audio contribution per model and the continuous score's histogram
    panel        filter's summary: Fleiss' / Cohen's kappa on silence, per-model accuracy, letter mass
    prompts      sample's summary: each prompt set's balance against the pool it was drawn from
    rollouts     rollout's `summarize` through the set's contract, with the distributions behind it
    training     each training run's metrics log (runs/<dataset>/<name>/*.jsonl): curves and last values
    predictions  eval's `summarize` of each finished prediction set: the numbers eval printed

A section whose tables are absent is listed under `skipped` with the reason, never an error, so the
command works on a workspace at any point of the chain. Aggregations run in polars over the Parquet
shards; the plots (`plots.py`) draw from this report alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...core.frames import subdirs
from ...core.schema import PREDICTIONS
from ...core.workspace import Workspace
from ..download.summary import describe as describe_items
from ..eval.stage import summarize
from ..filter.summary import contribution_section, item_scores, panel_section, splits_section
from ..sample.summary import describe as describe_prompts
from .config import SECTIONS, StatsConfig
from .rollouts import rollouts_section
from .training import training_section


def predictions_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Each finished prediction set: the model and prompt style, and eval's `summarize` of its table."""
    sets: dict[str, Any] = {}
    for name in ws.finished_sets("eval", PREDICTIONS.name, dataset):
        table = ws.read(PREDICTIONS, dataset, name)
        if table.num_rows:
            first = table.slice(0, 1).select(["model", "prompt_style"]).to_pylist()[0]
            sets[name] = {**first, **summarize(table)}
    return sets or None


def _no_predictions(ws: Workspace, dataset: str) -> str:
    finished = set(ws.finished_sets("eval", PREDICTIONS.name, dataset))
    left = [d.name for d in subdirs(ws.table_dir(PREDICTIONS.name, dataset)) if d.name not in finished]
    if left:
        return (
            f"no finished prediction set ({', '.join(left)} did not finish: rerun 'adqa-data eval' to resume)"
        )
    return "no prediction set: run 'adqa-data eval' first"


def _builders(ws: Workspace, ds: str) -> dict[str, tuple[Callable[[], Any], str | Callable[[], str]]]:
    """Each section's builder (None: no data) and why it is skipped then."""
    scores = item_scores(ws, ds)
    no_filter = "no item_scores table: run 'adqa-data filter' first"
    return {
        "items": (lambda: describe_items(ws, ds), "no items: run 'adqa-data download' first"),
        "splits": (lambda: splits_section(scores) if scores is not None else None, no_filter),
        "contribution": (lambda: contribution_section(scores) if scores is not None else None, no_filter),
        "panel": (lambda: panel_section(ws, ds, scores) if scores is not None else None, no_filter),
        "prompts": (lambda: describe_prompts(ws, ds), "no prompt set: run 'adqa-data sample' first"),
        "rollouts": (lambda: rollouts_section(ws, ds), "no rollout set: run 'adqa-data rollout' first"),
        "training": (
            lambda: training_section(ws, ds),
            f"no metrics log under runs/{ds}/: run 'adqa-data train' first",
        ),
        "predictions": (lambda: predictions_section(ws, ds), lambda: _no_predictions(ws, ds)),
    }


def stats(ws: Workspace, dataset: str | None = None, sections: Sequence[str] = SECTIONS) -> dict[str, Any]:
    """Every section the workspace has data for (module docstring); absent ones under `skipped`."""
    ds = ws.dataset(dataset).name
    out: dict[str, Any] = {"workspace": str(ws.root), "dataset": ds, "sections": {}, "skipped": {}}
    builders = _builders(ws, ds)
    for name in sections:
        build, why = builders[name]
        section = build()
        if section is None:
            out["skipped"][name] = why() if callable(why) else why
        else:
            out["sections"][name] = section
    return out


def run(ws: Workspace, config: StatsConfig) -> dict[str, Any]:
    """The report of `config.dataset` (its chosen sections), with the plots written when asked: their
    paths under `plots`; a folder that cannot be written is a line under `warnings`, not an error (the
    statistics still stand), while an `--out` inside the workspace but outside stats/ is refused."""
    from ...core.atomic_files import check_output_place
    from ...core.errors import MissingExtra, UserError

    report = stats(ws, config.dataset, sections=config.sections())
    if not config.plots:
        return report
    from .plots import write_plots

    out_dir = config.out_dir
    folder = Path(out_dir) if out_dir else ws.root / "stats" / report["dataset"]
    if out_dir:  # the default folder is checked by the writer (a link there is a warning: tables still print)
        check_output_place(
            Path(out_dir),
            ws.root,
            ws.root / "stats",
            "the plots",
            "leave out --out (default <workspace>/stats/<dataset>/), or write them outside the workspace",
        )
    try:
        report["plots"] = [str(p) for p in write_plots(report, folder, None if out_dir else ws.root)]
    except MissingExtra:
        raise
    except (OSError, UserError) as e:  # a read-only workspace, a link out of it
        what = e.what if isinstance(e, UserError) else (e.strerror or str(e))
        report["plots"] = []
        report.setdefault("warnings", []).append(f"plots not written to {folder}: {what}")
    return report
