"""`adqa-data filter`: audio-contribution filtering by a panel of LALMs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import render
from .app import DEFAULT_WS, EngineOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json
from .options import build_settings, settings_options
from .stage_run import run_stage


def _settings_model() -> Any:
    from ..stages.filter.config import FilterConfig

    return FilterConfig


@app.command("filter")
@settings_options(_settings_model())
def filter_cmd(
    settings: dict[str, Any],
    workspace: WorkspaceOpt = DEFAULT_WS,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Audio-contribution filtering: a panel of LALMs answers every item with its audio and with silence;
    items that at least --min-correct members answer without listening are weak, the rest strong.

    Writes votes, item_scores, splits/<dataset>/{weak,strong}.txt and statistics (also in the provenance).
    Resumable per (model, condition) shard; each model is loaded once; a rerun with the same config is a no-op.
    """
    from ..stages.filter import FilterConfig, run

    config = build_settings(FilterConfig, settings, "filter")
    res = run_stage(run, workspace, config, progress=("panel votes", "shards"), engine=engine, force=force)
    for w in res.warnings:  # on stderr, with --json too
        render.log(f"warning: {w['message']}")
    if as_json:
        print_json(res.to_json())
        return
    if res.up_to_date:
        render.log(f"up to date: {res.dataset} with panel {res.panel}; --force redoes it")
    else:
        render.log(f"{res.chunks_run} votes shards written, {res.chunks_reused} reused, {res.seconds:.1f} s")
    show(res.to_json())
    if res.audit is not None:
        show_audit(res.audit)
    render.result(f"splits: {Path(workspace) / 'splits' / res.dataset}/{{weak,strong}}.txt")


def mass(m: dict[str, Any] | None) -> str:
    """A member's letter mass as "median / p10" ("-" outside letters mode)."""
    return "-" if not m else f"{m['median']:.3f} / {m['p10']:.3f}"


def show(report: dict[str, Any]) -> None:
    """The statistics of a filter run: the split, per-model accuracy, strong share by group, agreement."""
    s, pct = report["stats"], render.pct
    head = (
        f"{report['dataset']}: {s['items']} items scored -> {s['weak']} weak, {s['strong']} strong "
        f"({pct(s['strong_share'])} strong; weak = at least {s['min_correct']} of {len(s['panel'])} "
        "correct on silence)"
    )
    if report.get("skipped_no_answer"):
        head += f"; {report['skipped_no_answer']} items without a gold answer skipped"
    render.result(head)

    def signed(x: float | None) -> str:
        return "-" if x is None else f"{x:+.3f}"

    acc_cols = [f"acc {c}" for c in s["conditions"]]
    render.table(
        "per model (accuracy from permutation-averaged answers)",
        ["model", *acc_cols, "mean AC", "mean score", "letter mass median / p10", "silent letters"],
        [
            (
                m,
                *(pct(d["accuracy"][c]) for c in s["conditions"]),
                signed(d["mean_audio_contribution"]),
                signed(d["mean_contribution_score"]),
                mass(d.get("letter_mass")),
                " ".join(f"{k}:{pct(v)}" for k, v in d.get("silence_letter_share", {}).items()),
            )
            for m, d in s["models"].items()
        ],
        right=[*acc_cols, "mean AC", "mean score", "letter mass median / p10"],
    )
    for key, label in (("by_source", "source"), ("by_question_type", "question type")):
        render.table(
            f"strong share by {label}",
            [label, "items", "strong", "share"],
            [(k, d["items"], d["strong"], pct(d["strong_share"])) for k, d in s[key].items()],
            right=["share"],
        )
    if s["silence_agreement"]:
        render.table(
            "agreement on silence correctness",
            ["model a", "model b", "agreement", "Cohen's kappa"],
            [
                (d["a"], d["b"], pct(d["agreement"]), "-" if d["kappa"] is None else f"{d['kappa']:.3f}")
                for d in s["silence_agreement"]
            ],
            right=["agreement", "Cohen's kappa"],
        )
    hist = ", ".join(f"{k}: {v}" for k, v in s["silence_correct_histogram"].items())
    render.result(f"items by number of members correct on silence: {hist}")


def show_audit(audit: dict[str, Any]) -> None:
    """Per member and condition: how often the vote equals the member's own generated answer."""
    pct = render.pct
    done = {m: d for m, d in audit["members"].items() if "skipped" not in d}
    capped = "" if audit["items"] == audit.get("requested") else f", capped from {audit.get('requested')}"
    if done:
        render.table(
            f"audit: vote against the generated answer on {audit['items']} random items{capped} "
            "(agreement over parseable replies; same prompt: rotation 0's read alone)",
            ["model", "condition", "items", "unparseable", "agreement", "same prompt"],
            [
                (
                    m,
                    c,
                    d[c]["items"],
                    d[c]["unparseable"],
                    pct(d[c]["agreement"]),
                    pct(d[c]["agreement_same_prompt"]),
                )
                for m, d in done.items()
                for c in audit["conditions"]
            ],
            right=["agreement", "same prompt"],
        )
    for m, d in audit["members"].items():
        if "skipped" in d:
            render.result(f"audit: {m} not audited, {d['skipped']}")
