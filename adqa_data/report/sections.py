"""The report's sections, in the order of the chain, as blocks the page draws: charts, tables, notes.

Every figure comes from `stages.stats` (the numbers `adqa-data stats` prints, eval's `summarize` for
prediction sets) and `stages.eval.metrics.confusion`; nothing is re-derived here. A chart is a plotly
figure as plain data (`{"data": [...], "layout": {...}}`), a table is columns and rows of plain values,
and the page sets every string as text, never as markup.
"""

from __future__ import annotations

import re
from typing import Any

Block = dict[str, Any]

# (section id, title, the stats sections it draws on)
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("items", "Items and quarantine", ("items",)),
    ("panel", "Panel and weak / strong split", ("splits", "contribution", "panel")),
    ("prompts", "Prompt set balance", ("prompts",)),
    ("rollouts", "Rollout groups", ("rollouts",)),
    ("training", "Training curves", ("training",)),
    ("eval", "Evaluation", ("predictions",)),
)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def chart(title: str, data: list[dict[str, Any]], **layout: Any) -> Block:
    return {
        "kind": "chart",
        "title": title,
        "fig": {"data": data, "layout": {"title": {"text": title}, **layout}},
    }


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Block:
    return {"kind": "table", "title": title, "columns": columns, "rows": rows}


def note(text: str, skipped: bool = False) -> Block:
    return {"kind": "note", "text": text, "skipped": skipped}


def bars(title: str, rows: list[dict[str, Any]], key: str, value: str = "count") -> Block:
    return chart(title, [{"type": "bar", "x": [str(r[key]) for r in rows], "y": [r[value] for r in rows]}])


# ---------------------------------------------------------------------------------------------- items
def items_blocks(s: dict[str, Any]) -> list[Block]:
    """The counts, and a chart per breakdown with two values or more (one value is said in the note)."""
    breakdowns = (
        ("split", "split", s["by_split"]),
        ("source", "source_dataset", s["by_source"]),
        ("question type", "question_type", s["by_question_type"]),
    )
    single = [f"all {label} {rows[0][key]}" for label, key, rows in breakdowns if len(rows) == 1]
    out = [
        note(
            f"{s['items']} items ({s['with_answer']} with answers), {s['quarantined']} rows quarantined"
            + (f"; {', '.join(single)}." if single else ".")
        )
    ]
    out += [bars(f"Items by {label}", rows, key) for label, key, rows in breakdowns if len(rows) > 1]
    if s["quarantine"]:
        out.append(
            table(
                "Quarantine by stage and reason",
                ["stage", "reason", "rows"],
                [[r["stage"], r["reason"], r["count"]] for r in s["quarantine"]],
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- panel
def panel_blocks(sec: dict[str, Any]) -> list[Block]:
    out: list[Block] = []
    if p := sec.get("panel"):
        conditions = sorted({c for v in p["accuracy"].values() for c in v})
        models = list(p["accuracy"])
        kappa = "-" if p["fleiss_kappa"] is None else f"{p['fleiss_kappa']:.3f}"
        out.append(note(f"Panel of {len(models)}: Fleiss' kappa on silence {kappa}."))
        out.append(
            chart(
                "Per-member accuracy by condition",
                [  # horizontal: members' names are long
                    {
                        "type": "bar",
                        "orientation": "h",
                        "name": c,
                        "y": models,
                        "x": [p["accuracy"][m].get(c) for m in models],
                    }
                    for c in conditions
                ],
                barmode="group",
                xaxis={"range": [0, 1], "title": {"text": "accuracy"}},
                yaxis={"autorange": "reversed"},
            )
        )
        if p["pairs"]:
            out.append(
                table(
                    "Pairwise agreement on silence",
                    ["member a", "member b", "items", "agreement", "Cohen's kappa"],
                    [
                        [r["a"], r["b"], r["items"], _pct(r["agreement"]), r["cohen_kappa"]]
                        for r in p["pairs"]
                    ],
                )
            )
        if mass := p.get("letter_mass"):
            out.append(
                table(
                    f"Letter mass (probability on the option letters where read; LOW: median < "
                    f"{p.get('letter_mass_threshold', '-')})",
                    ["member", "median", "p10", "min", "low"],
                    [
                        [m, d.get("median"), d.get("p10"), d.get("min"), "LOW" if d["low"] else ""]
                        for m, d in mass.items()
                    ],
                )
            )
        if p.get("note"):
            out.append(note(p["note"]))
    if s := sec.get("splits"):
        out.append(note(f"Split: {s['weak']} weak, {s['strong']} strong ({_pct(s['strong_share'])} strong)."))
        for key, label in (("by_source", "source_dataset"), ("by_question_type", "question_type")):
            rows = s[key]
            out.append(
                chart(
                    f"Weak / strong {key.replace('_', ' ')}",
                    [
                        {
                            "type": "bar",
                            "name": part,
                            "x": [str(r[label]) for r in rows],
                            "y": [r[part] for r in rows],
                        }
                        for part in ("weak", "strong")
                    ],
                    barmode="stack",
                )
            )
    if c := sec.get("contribution"):
        h = c["score_histogram"]
        centres = [(a + b) / 2 for a, b in zip(h["edges"][:-1], h["edges"][1:])]
        out.append(
            chart(
                "Audio contribution score (mean over members of P(correct|audio) - P(correct|silence))",
                [{"type": "bar", "x": centres, "y": h["counts"]}],
                xaxis={"range": [-1, 1]},
            )
        )
    return out


# -------------------------------------------------------------------------------------------- prompts
def prompts_blocks(sets: dict[str, Any]) -> list[Block]:
    out = []
    for name, s in sets.items():
        rows = s["by_question_type"]
        types = [str(r["question_type"]) for r in rows]
        out.append(
            chart(
                f"Prompt set {name}: {s['n']} drawn from the {s['split'] or '?'} pool of {s['pool']}",
                [
                    {"type": "bar", "name": "pool share", "x": types, "y": [r["pool_share"] for r in rows]},
                    {
                        "type": "bar",
                        "name": "chosen share",
                        "x": types,
                        "y": [r["chosen_share"] for r in rows],
                    },
                ],
                barmode="group",
            )
        )
    return out


# ------------------------------------------------------------------------------------------- rollouts
def rollout_summary_blocks(name: str, s: dict[str, Any]) -> list[Block]:
    rewards = {k: v["mean"] for k, v in s["rewards"].items() if v["mean"] is not None}
    return [
        table(
            f"Rollout set {name} ({s['policy']})",
            ["measure", "value"],
            [
                ["groups x k", f"{s['groups']} x {s['k']}"],
                ["accuracy", s["accuracy"]],
                ["zero-signal groups", f"{s['zero_signal_groups']} ({_pct(s['zero_signal_share'])})"],
                ["truncated", _pct(s["truncated_share"])],
                [
                    "completion length mean / p90",
                    f"{s['completion_length'].get('mean')} / {s['completion_length'].get('p90')}",
                ],
            ],
        ),
        chart(
            f"{name}: mean reward by component",
            [{"type": "bar", "x": list(rewards), "y": list(rewards.values())}],
        ),
        chart(
            f"{name}: parse verdicts",
            [{"type": "bar", "x": list(s["parse"]), "y": list(s["parse"].values())}],
        ),
    ]


ROUND_SET = re.compile(r"(?P<run>.+)-round(?P<round>[1-9]\d*)")
"""The rollout sets `train --online` writes, one per round: `<run>-round<k>`, k from 1 with no leading zero
(`x-round01` is a set of its own, not a second round 1 of `x`)."""


def rollout_families(names: list[str]) -> list[tuple[str, list[tuple[int, str]]]]:
    """The rollout sets in page order: each online run's rounds as one family `(run, [(round, set), ...])`
    in round order (round10 after round9), every other set alone as `(set, [])`; families and sets in
    name order."""
    rounds: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        m = ROUND_SET.fullmatch(name)
        if m:
            rounds.setdefault(m["run"], []).append((int(m["round"]), name))
    alone = [n for n in names if not (m := ROUND_SET.fullmatch(n)) or len(rounds[m["run"]]) < 2]
    out = [(n, []) for n in alone] + [(run, sorted(r)) for run, r in rounds.items() if len(r) >= 2]
    return sorted(out, key=lambda f: f[0])


def rounds_blocks(run: str, summaries: list[tuple[int, dict[str, Any]]]) -> list[Block]:
    """An online run's rounds at a glance: each round's sampled accuracy and zero-signal share."""
    x = [k for k, _ in summaries]
    return [
        chart(
            f"{run}: its {len(x)} online rounds",
            [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "accuracy",
                    "x": x,
                    "y": [s["accuracy"] for _, s in summaries],
                },
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "zero-signal share",
                    "x": x,
                    "y": [s["zero_signal_share"] for _, s in summaries],
                },
            ],
            xaxis={"title": {"text": "round"}},
        )
    ]


# ------------------------------------------------------------------------------------------- training
def training_blocks(runs: dict[str, Any]) -> list[Block]:
    """One chart per metric (each on its own scale), a line per run that logged it."""
    out = [
        note(
            "Runs: "
            + "; ".join(
                f"{name} ({r['records']} records, {r['skipped_lines']} lines skipped)"
                for name, r in runs.items()
            )
            + "."
        )
    ]
    keys = [k for r in runs.values() for k in (r.get("plotted") or list(r["curves"])[:6])]
    for k in dict.fromkeys(keys):
        lines = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": name,
                "x": r["curves"][k]["step"],
                "y": r["curves"][k]["value"],
            }
            for name, r in runs.items()
            if k in r["curves"]
        ]
        out.append(chart(k, lines, xaxis={"title": {"text": "step"}}, showlegend=True))
    return out


# ----------------------------------------------------------------------------------------------- eval
def eval_blocks(sets: dict[str, Any], confusions: dict[str, dict[str, Any]]) -> list[Block]:
    out: list[Block] = []
    for name, s in sets.items():
        conds = s["conditions"]
        gap = s.get("gap")
        head = f"Prediction set {name} ({s['model']}, {s['prompt_style']}): {s['graded_items']} of {s['items']} items graded"
        out.append(
            table(
                head,
                ["condition", "accuracy", "items"],
                [[c, _pct(r.get("accuracy")), r.get("n")] for c, r in conds.items()],
            )
        )
        if gap:
            o = gap["overall"]
            out.append(
                note(
                    f"Silence gap (accuracy with audio - on silence): {_pct(o['audio'])} - {_pct(o['silence'])} = "
                    + ("-" if o["gap"] is None else f"{100 * o['gap']:+.1f} pts")
                    + f" over {o['n']} items."
                )
            )
        for by in ("question_type", "part"):
            groups = sorted({g for r in conds.values() for g in r.get(f"by_{by}", {})})
            if not s["graded_items"] or not groups or groups == ["(none)"]:
                continue  # nothing graded (an evaluation set), or nothing to break it down by
            out.append(
                chart(
                    f"{name}: accuracy by {by.replace('_', ' ')}",
                    [
                        {
                            "type": "bar",
                            "name": c,
                            "x": groups,
                            "y": [(r[f"by_{by}"].get(g) or {}).get("accuracy") for g in groups],
                        }
                        for c, r in conds.items()
                    ],
                    barmode="group",
                    yaxis={"range": [0, 1]},
                )
            )
        for c, m in confusions.get(name, {}).items():
            if m["gold"] and any(map(any, m["counts"])):
                out.append(
                    chart(
                        f"{name} ({c}): predicted against gold letters",
                        [
                            {
                                "type": "heatmap",
                                "z": m["counts"],
                                "x": m["predicted"],
                                "y": m["gold"],
                                "colorscale": [[0, "#f4f7fb"], [1, "#1f4e9c"]],
                                "showscale": False,
                                "text": m["counts"],
                                "texttemplate": "%{text}",
                            }
                        ],
                        xaxis={"title": {"text": "predicted"}},
                        yaxis={"title": {"text": "gold"}, "autorange": "reversed"},
                    )
                )
    return out
