"""`adqa-data filter`: audio-contribution filtering by a panel of LALMs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


@app.command("filter")
def filter_cmd(
    panel: Annotated[
        str,
        typer.Option(
            "--panel", help="Panel YAML file, or a built-in panel name (pipelines/panels/: audiomcq, tiny)."
        ),
    ] = "audiomcq",
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition", help="Extra condition besides audio and silence, repeatable: noise | swap."
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="letters | options | generate for every member (default: each member's own, letters).",
        ),
    ] = None,
    permutations: Annotated[
        int,
        typer.Option(
            "--permutations",
            "-k",
            help="Score each item under K cyclic rotations of its options and average; K = the number of options (4) fully cancels a letter-position bias.",
        ),
    ] = 1,
    min_correct: Annotated[
        int | None,
        typer.Option(
            "--min-correct",
            help="Weak when at least this many members are correct on silence (default: the panel's, 2).",
        ),
    ] = None,
    silence_seconds: Annotated[
        float, typer.Option("--silence-seconds", help="Length of the silent (and noise) clip.")
    ] = 30.0,
    noise_color: Annotated[
        str, typer.Option("--noise-color", help="noise condition: white | pink.")
    ] = "white",
    noise_level: Annotated[
        float, typer.Option("--noise-level", help="noise condition: RMS level in dBFS.")
    ] = -30.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the noise clip and the swap draws.")] = 0,
    chunk_items: Annotated[
        int, typer.Option("--chunk-items", help="Items per votes shard (the unit of resume).")
    ] = 256,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="generate mode: reply length limit.")
    ] = 256,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu | cuda (default: cuda when available).")
    ] = None,
    max_prompt_tokens: Annotated[
        int,
        typer.Option(
            "--max-prompt-tokens",
            help="Quarantine items whose prompt (question and options) exceeds this many tokens of a member's tokenizer (prompt_too_long).",
        ),
    ] = 2048,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code",
            help="Allow panel members that need code from their model repository (trust_remote_code: true, or a family like kimi_audio) to run it; each must be a local folder or pin revision: to a 40-character commit.",
        ),
    ] = False,
    min_letter_mass: Annotated[
        float,
        typer.Option(
            "--min-letter-mass",
            help="Warn about a letters-mode member whose median letter mass (the probability its option letters hold where they are read, before renormalising) is below this: its letters are read where it does not put them. 0 = never warn.",
        ),
    ] = 0.5,
    audit: Annotated[
        int,
        typer.Option(
            "--audit",
            help="After voting, re-ask N random items (--seed; at most every item) in generate mode with each letters/options member's model and prompt style, on audio and silence, and report how often its vote equals the parsed generated answer (unparseable replies counted apart). Writes filter_audit/<dataset>/.",
        ),
    ] = 0,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Audio-contribution filtering: a panel of LALMs answers every item with its audio and with silence;
    items that at least --min-correct members answer without listening are weak, the rest strong.

    Writes votes, item_scores, splits/<dataset>/{weak,strong}.txt and statistics (also in the provenance).
    Resumable per (model, condition) shard; each model is loaded once; a rerun with the same config is a no-op.
    """
    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.filter import FilterOptions, filter_dataset

    options = FilterOptions(
        conditions=("audio", "silence", *(condition or [])),
        mode=mode,
        permutations=permutations,
        min_correct=min_correct,
        silence_seconds=silence_seconds,
        noise_color=noise_color,
        noise_level_dbfs=noise_level,
        seed=seed,
        chunk_items=chunk_items,
        max_new_tokens=max_new_tokens,
        device=device,
        max_prompt_tokens=max_prompt_tokens,
        trust_remote_code=trust_remote_code,
        min_letter_mass=min_letter_mass,
        audit=audit,
    )
    options.validated()
    check_engine(engine)
    options_checked()
    with progress_bar("panel votes", "shards") as on_progress:
        res = filter_dataset(
            Workspace(workspace),
            panel,
            dataset,
            options,
            engine=check_engine(engine),
            force=force,
            on_progress=on_progress,
        )
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
