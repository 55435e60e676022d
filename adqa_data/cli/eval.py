"""`adqa-data eval`: accuracy of a model on a dataset, with the clip and without it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import render
from .app import (
    DEFAULT_WS,
    DatasetOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    FamilyOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.eval import EvalResult


@app.command("eval")
def eval_command(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="A checkpoint directory or hub id.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="transformers (default) | vllm | scripted (no model: dry runs)."),
    ] = None,
    prompt_style: Annotated[
        str | None,
        typer.Option(
            "--prompt-style", help="Prompt style (default: think; audiomcq for AudioMCQ/R1-AQA checkpoints)."
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            help="Completions per item and condition; > 1 = self-consistency, majority vote (default 1).",
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", help="Default: 0 (greedy) for one sample, 1.0 for several."),
    ] = None,
    top_p: Annotated[float | None, typer.Option("--top-p")] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="Completion length limit (default 512).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Sample s of item i is seeded by (seed, item, condition, s) (default 0)."
        ),
    ] = None,
    silence: Annotated[
        bool | None,
        typer.Option(
            "--silence/--no-silence",
            help="Also answer with the clip replaced by silence (the audio-dependency gap). Default: when the dataset has answers.",
        ),
    ] = None,
    silence_seconds: Annotated[
        float | None, typer.Option("--silence-seconds", help="Length of the silent clip (default 30).")
    ] = None,
    letter_scores: Annotated[
        bool | None,
        typer.Option(
            "--letter-scores",
            help="Also record P(letter) per option: the submission's fallback for outputs naming no option.",
        ),
    ] = None,
    parts: Annotated[
        Path | None,
        typer.Option(
            "--parts", help="CSV (item_id,part) or JSON (id -> part) naming each item's DCASE dev part."
        ),
    ] = None,
    shard_size: Annotated[
        int | None,
        typer.Option(
            "--shard-size", help="Items per shard: the unit of resume and of a Ray task (default 64)."
        ),
    ] = None,
    family: FamilyOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML of eval settings; options given here override it.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Prediction set name (default: <model>-<style>-n<samples>-seed<seed>)."),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
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
    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.eval import evaluate, load_config

    cfg = load_config(
        config,
        model=model,
        backend=backend,
        prompt_style=prompt_style,
        samples=samples,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        silence=silence,
        silence_seconds=silence_seconds,
        letter_scores=letter_scores,
        shard_size=shard_size,
        family=family,
        device=device,
        dtype=dtype,
    )
    check_engine(engine)
    options_checked()
    with progress_bar("eval items", "items") as on_progress:
        res = evaluate(
            Workspace(workspace),
            cfg,
            dataset=dataset,
            name=name,
            parts_file=parts,
            engine=check_engine(engine),
            workers=workers,
            force=force,
            on_progress=on_progress,
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
    state = (
        "up to date (--force redoes it)"
        if res.up_to_date
        else f"{res.shards_written} of {res.shards} shards written, {res.seconds:.1f} s"
    )
    render.log(f"{res.dataset} / {res.name}: {res.items} items x {s.get('samples')} sample(s); {state}")
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
