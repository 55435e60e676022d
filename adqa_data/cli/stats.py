"""`adqa-data stats`: the state of a dataset across every stage, as tables and one folder of plots."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..stages.stats.config import StatsConfig
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, settings_options
from .render import log, table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render(report: dict[str, Any]) -> None:
    """Each section of a stats report as tables on stdout; skipped sections as notes on stderr."""
    ds = report["dataset"]
    sec = report["sections"]
    if s := sec.get("items"):
        table(
            f"{ds}: {s['items']} items ({s['with_answer']} with answers), {s['quarantined']} quarantined",
            ["breakdown", "value", "count"],
            [
                (label if i == 0 else "", r[key], r["count"])
                for label, key, rows in (
                    ("split", "split", s["by_split"]),
                    ("source", "source_dataset", s["by_source"]),
                    ("question type", "question_type", s["by_question_type"]),
                )
                for i, r in enumerate(rows)
            ],
        )
        if s["quarantine"]:
            table(
                "quarantine by stage and reason",
                ["stage", "reason", "count"],
                [(r["stage"], r["reason"], r["count"]) for r in s["quarantine"]],
            )
    if s := sec.get("splits"):
        for key, label in (("by_source", "source_dataset"), ("by_question_type", "question_type")):
            table(
                f"weak / strong {key.replace('_', ' ')} ({s['weak']} weak, {s['strong']} strong)",
                [label.replace("_", " "), "items", "weak", "strong", "strong share"],
                [(r[label], r["items"], r["weak"], r["strong"], _pct(r["strong_share"])) for r in s[key]],
            )
        if a := s.get("design_agreement"):
            table(
                f"split against the designed needs_audio label: {_pct(a['agreement'])} of {a['items']} agree",
                ["design -> split", "items"],
                list(a["counts"].items()),
            )
    if s := sec.get("contribution"):
        table(
            "audio contribution per panel member (items)",
            ["model", "AC = -1", "AC = 0", "AC = 1"],
            [(m, v["-1"], v["0"], v["1"]) for m, v in s["audio_contribution"].items()],
        )
        table("continuous contribution score", ["statistic", "value"], list(s["score"].items()))
    if s := sec.get("panel"):
        fleiss = "-" if s["fleiss_kappa"] is None else f"{s['fleiss_kappa']:.3f}"
        conditions = sorted({c for v in s["accuracy"].values() for c in v})
        mass = s.get("letter_mass", {})

        def mass_cells(m: str) -> tuple[str, str]:
            d = mass.get(m)
            if not d:
                return "-", "-"
            return f"{d['median']:.3f}" + (" LOW" if d["low"] else ""), f"{d['p10']:.3f}"

        table(
            f"panel accuracy by condition (Fleiss' kappa on silence: {fleiss}); letter mass: the probability "
            f"the option letters held where read (LOW: median < {s.get('letter_mass_threshold', '-')})",
            ["model", *conditions, "letter mass median", "letter mass p10"],
            [(m, *(_pct(v.get(c)) for c in conditions), *mass_cells(m)) for m, v in s["accuracy"].items()],
            right=["letter mass median", "letter mass p10"],
        )
        if s["pairs"]:
            table(
                "pairwise agreement on silence",
                ["model a", "model b", "items", "agreement", "Cohen's kappa"],
                [(p["a"], p["b"], p["items"], _pct(p["agreement"]), p["cohen_kappa"]) for p in s["pairs"]],
            )
        if note := s.get("note"):
            log(note)
    for name, s in (sec.get("prompts") or {}).items():
        table(
            f"prompt set {name}: {s['n']} drawn from the {s['split'] or '?'} pool of {s['pool']}",
            ["question type", "pool", "pool share", "chosen", "chosen share"],
            [
                (r["question_type"], r["pool"], _pct(r["pool_share"]), r["chosen"], _pct(r["chosen_share"]))
                for r in s["by_question_type"]
            ],
        )
    for name, s in (sec.get("rollouts") or {}).items():
        if not s["rows"]:
            log(f"rollout set {name}: empty (0 rows)")
            continue
        rows: list[tuple[str, Any]] = [
            ("groups x k", f"{s['groups']} x {s['k']}"),
            ("accuracy", s["accuracy"]),
            (
                "zero-signal groups (equal rewards)",
                f"{s['zero_signal_groups']} ({_pct(s['zero_signal_share'])})",
            ),
            # the flag also holds groups spanning less than the rollout's min_spread (advantage 0)
            ("zero-advantage groups (flagged)", _pct(s["zero_signal_flag_share"])),
            ("truncated", _pct(s["truncated_share"])),
            (
                "completion length mean / p90",
                f"{s['completion_length'].get('mean')} / {s['completion_length'].get('p90')}",
            ),
        ]
        rows += [
            (f"reward {k}: mean", "-" if v["mean"] is None else v["mean"]) for k, v in s["rewards"].items()
        ]
        rows += [(f"parse: {k}", v) for k, v in s["parse"].items()]
        table(f"rollout set {name} ({s['policy']})", ["measure", "value"], rows, right=["value"])
    for name, s in (sec.get("training") or {}).items():
        table(
            f"training run {name}: {s['records']} records ({s['skipped_lines']} lines skipped)",
            ["metric", "points", "last"],
            [(k, len(c["step"]), s["last"][k]) for k, c in s["curves"].items()],
        )
    for name, s in (sec.get("predictions") or {}).items():
        _render_predictions(name, s)
    for name, why in report["skipped"].items():
        log(f"[dim]{name}: skipped ({why})[/]")
    if plots := report.get("plots"):
        log(f"{len(plots)} plots in {Path(plots[0]).parent}")


def _points(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f} pts"


def _render_predictions(name: str, s: dict[str, Any]) -> None:
    """One prediction set: accuracy by condition and question type with the gap, letters, uncredited outputs."""
    conds = s["conditions"]
    gap = s.get("gap")
    types = sorted({t for c in conds.values() for t in c["by_question_type"]})

    def acc(c: str, t: str | None) -> str:
        r = conds[c] if t is None else conds[c]["by_question_type"].get(t) or {}
        return _pct(r.get("accuracy"))

    def gap_of(t: str | None) -> list[str]:
        if not gap:
            return []
        return [_points((gap["overall"] if t is None else gap["by_question_type"].get(t) or {}).get("gap"))]

    table(
        f"prediction set {name} ({s['model']}, {s['prompt_style']}, {s['samples']} sample(s) per item): "
        f"{s['graded_items']} of {s['items']} items graded",
        ["question type", *(f"accuracy ({c})" for c in conds), *(["gap (audio - silence)"] if gap else [])],
        [(t or "overall", *(acc(c, t) for c in conds), *gap_of(t)) for t in [None, *types]],
        right=[*(f"accuracy ({c})" for c in conds), "gap (audio - silence)"],
    )
    first = next(iter(conds.values()), None)
    if first:
        letters = list(first["letters"]["predicted"])
        table(
            f"prediction set {name}: predicted letters against gold",
            ["letter", "gold", *(f"predicted ({c})" for c in conds)],
            [
                (
                    L,
                    first["letters"]["gold"].get(L, "-"),
                    *(r["letters"]["predicted"].get(L, 0) for r in conds.values()),
                )
                for L in letters
            ],
            right=["gold"],
        )
    rows = [
        (c, reason, v["count"], _pct(v["share"]))
        for c, r in conds.items()
        for reason, v in [
            ("all", {"count": r["no_credit"]["not_credited"], "share": r["no_credit"]["share"]}),
            *r["no_credit"]["by_reason"].items(),
        ]
    ]
    table(
        f"prediction set {name}: outputs the parser did not credit",
        ["condition", "reason", "outputs", "share"],
        rows,
        right=["share"],
    )


@app.command()
@settings_options(StatsConfig)
def stats(settings: dict[str, Any], workspace: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Statistics across stages: items and quarantine, weak/strong splits, audio contribution, panel agreement
    (Fleiss'/Cohen's kappa), prompt-set balance, rollout rewards and zero-signal groups, training curves, and
    eval's prediction sets (accuracy by condition and question type, the silence gap, letters, uncredited outputs).

    Sections the workspace has no data for are skipped with a note. Plots go to <workspace>/stats/<dataset>/.
    """
    from ..core.workspace import Workspace
    from ..stages.stats import run

    config = build_settings(StatsConfig, settings, "stats")
    options_checked()
    ws = Workspace(workspace)
    report = run(ws, config)
    if report["sections"].get("splits"):  # a dataset whose rows say whether they need the audio (the demo's)
        from ..demo.story import split_agreement

        if agreement := split_agreement(ws, report["dataset"]):
            report["sections"]["splits"]["design_agreement"] = agreement
    for warning in report.get("warnings", []):
        print(f"warning: {warning}; pass --out DIR to write them elsewhere, or --no-plots", file=sys.stderr)
    print_json(report) if as_json else render(report)
