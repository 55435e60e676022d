"""`adqa-data eval`: accuracy of a model on a dataset, with the clip and without it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import render
from .app import DEFAULT_WS, EngineOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json
from .options import build_settings, file_settings, settings_options
from .stage_run import run_stage, shards_state

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.eval import EvalResult


def _settings_model() -> Any:
    from ..stages.eval.config import EvalConfig

    return EvalConfig


@app.command("eval")
# backend options are typed (numbers, flags): they come from --config, not as NAME=VALUE text
@settings_options(_settings_model(), exclude=("backend_options",))
def eval_command(
    settings: dict[str, Any],
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML of eval settings; options given here override it.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    engine: EngineOpt = "local",
    workers: Annotated[
        int | None, typer.Option("--workers", help="--engine ray: shards in flight at once.")
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Answer every item of a dataset in generate mode, parse the answers, report accuracy.

    Writes predictions/<dataset>/<name>/part-*.parquet: one row per (item, condition, sample) with the raw
    output, the parsed option and its text, the parse layer or the reason nothing was credited, and the
    vote. Reports top-1 accuracy overall and by question type, source and DCASE dev part, the same under
    silence and the gap, predicted against gold letters, and uncredited outputs by reason. Resumable
    per shard; a rerun with the same settings is a no-op.
    """
    from ..stages.eval import EvalConfig, load_config, run

    base = file_settings(load_config, config)
    cfg = build_settings(EvalConfig, settings, "eval", base=base)
    res = run_stage(
        run, workspace, cfg, progress=("eval items", "items"), engine=engine, force=force, workers=workers
    )
    if as_json:
        print_json(res)
        return
    show(res)


def _acc(r: dict[str, Any]) -> str:
    return f"{render.pct(r['accuracy'])} ({r['correct']}/{r['n']})" if r.get("n") else "-"


def _share(v: dict[str, Any] | None) -> str:
    return f"{v['count']} ({render.pct(v['share'])})" if v else "0"


def show(res: EvalResult) -> None:
    """Accuracy by condition and group, the gap, letters against gold, uncredited outputs."""
    s = res.summary
    render.log(
        f"{res.dataset} / {res.name}: {res.items} items x {s.get('samples')} sample(s); {shards_state(res)}"
    )
    conds: dict[str, Any] = s.get("conditions") or {}
    gap = s.get("gap") or {}
    for group in ("overall", "question_type", "source", "part"):
        if group == "overall":
            keys = {"all": None}
        else:
            keys = {k: k for k in (conds.get("audio") or {}).get(f"by_{group}", {})}
            if group == "part" and not s.get("parts_known"):
                continue
            if len(keys) <= 1 and group != "part":
                continue
        rows = []
        for label, key in keys.items():
            cells = [_acc(c if key is None else c[f"by_{group}"].get(key, {})) for c in conds.values()]
            g = gap.get("overall") if key is None else (gap.get(f"by_{group}") or {}).get(key)
            if gap:
                cells.append("-" if not g or g["gap"] is None else f"{100 * g['gap']:+.1f} pts")
            rows.append((label, *cells))
        cols = [group.replace("_", " "), *(f"accuracy ({c})" for c in conds)] + (
            ["gap (audio - silence)"] if gap else []
        )
        render.table(
            "top-1 accuracy" + ("" if group == "overall" else f" by {group.replace('_', ' ')}"), cols, rows
        )
    if str(s.get("layout", "")).startswith("dcase2026-dev") and not s.get("parts_known"):
        render.log("dev part: unknown for every item (the manifest records none); --parts FILE names them")
    if conds:
        first = next(iter(conds.values()))["letters"]
        render.table(
            "predicted letters against gold (position bias)",
            ["letter", *(f"predicted ({c})" for c in conds), "gold"],
            [
                (L, *(c["letters"]["predicted"][L] for c in conds.values()), first["gold"].get(L, ""))
                for L in first["predicted"]
            ],
        )
        reasons = sorted({r for c in conds.values() for r in c["no_credit"]["by_reason"]})
        totals = [f"{c['no_credit']['not_credited']} of {c['no_credit']['outputs']}" for c in conds.values()]
        render.table(
            "outputs the parser could not credit, by reason",
            ["reason", *conds],
            [("all", *totals)]
            + [(r, *(_share(c["no_credit"]["by_reason"].get(r)) for c in conds.values())) for r in reasons],
        )
    if ls := s.get("letter_scores"):
        render.log(
            f"letter scores recorded for {ls['items']} items; argmax accuracy {render.pct(ls['accuracy'])}"
        )
    render.log(f"output: {res.out_dir}")
