"""PNG plots of a `stats` report: one folder of pictures that shows the state of a workspace.

Every figure is drawn from the JSON-able report of `adqa_data.stages.stats` alone (no table is read
here), so what the plots show and what `adqa-data stats --json` prints are the same numbers. matplotlib
is optional: it is imported on first use with the Agg backend (no display needed), and a missing
install is one clear error that says how to add it.

Files, in `<workspace>/stats/<dataset>/`:
    items.png                 items by source / question type, quarantine by reason
    splits.png                weak / strong by source and by question type
    contribution.png          the continuous score's histogram; AC -1 / 0 / 1 per panel member
    panel.png                 per-model accuracy by condition; pairwise Cohen's kappa (Fleiss' in the title);
                              letter mass (median, 10th percentile) per letters-mode member
    prompts-<set>.png         chosen share against pool share, by question type
    rollouts-<set>.png        reward components, parse reasons, completion lengths, zero-signal share
    training-<run>.png        reward / KL / loss / clip-ratio curves of a run's metrics log
    predictions-<set>.png     accuracy by question type per condition (the gap in the title), predicted
                              against gold letters, uncredited outputs by reason
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...core.atomic_files import ensure_folder, write_atomic
from ...core.errors import UserError


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UserError(
            "plots need the Python package 'matplotlib', which is not installed",
            fix="pip install matplotlib (or 'adqa-data[dev]'), or pass --no-plots",
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _barh(ax: Any, labels: list[str], values: list[float], title: str, xlabel: str = "count") -> None:
    if not labels:
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title)
        return
    ax.barh(range(len(labels)), values, color="tab:blue")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)


def _stacked(ax: Any, rows: list[dict[str, Any]], key: str, title: str) -> None:
    labels = [str(r[key]) for r in rows]
    weak = [r["weak"] for r in rows]
    strong = [r["strong"] for r in rows]
    ax.barh(range(len(labels)), weak, color="tab:orange", label="weak")
    ax.barh(range(len(labels)), strong, left=weak, color="tab:green", label="strong")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("items")
    ax.set_title(title)
    ax.legend(loc="lower right")


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Through the one atomic writer: a PNG left as a link to a file elsewhere is replaced, never written
    through (`write_plots` checked the folder)."""
    fig.tight_layout()
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), inside=None)
    finally:
        plt.close(fig)
    return path


def _items(plt: Any, s: dict[str, Any], out: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    _barh(
        axes[0],
        [r["source_dataset"] for r in s["by_source"]],
        [r["count"] for r in s["by_source"]],
        "by source",
    )
    _barh(
        axes[1],
        [r["question_type"] for r in s["by_question_type"]],
        [r["count"] for r in s["by_question_type"]],
        "by question type",
    )
    _barh(
        axes[2],
        [f"{r['stage']}: {r['reason']}" for r in s["quarantine"]],
        [r["count"] for r in s["quarantine"]],
        f"quarantine ({s['quarantined']} rows)",
    )
    fig.suptitle(f"{s['items']} items, {s['quarantined']} quarantined")
    return _save(plt, fig, out / "items.png")


def _splits(plt: Any, s: dict[str, Any], out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _stacked(axes[0], s["by_source"], "source_dataset", "by source")
    _stacked(axes[1], s["by_question_type"], "question_type", "by question type")
    fig.suptitle(f"weak {s['weak']} / strong {s['strong']} of {s['items']} items")
    return _save(plt, fig, out / "splits.png")


def _contribution(plt: Any, s: dict[str, Any], out: Path) -> Path:
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    h = s["score_histogram"]
    edges = np.asarray(h["edges"])
    axes[0].bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="tab:purple")
    axes[0].set_xlabel("P(correct | audio) - P(correct | silence), panel mean")
    axes[0].set_ylabel("items")
    axes[0].set_title("continuous contribution score")
    models = s["models"]
    x = np.arange(len(models))
    for j, (v, color) in enumerate(((-1, "tab:red"), (0, "tab:gray"), (1, "tab:green"))):
        axes[1].bar(
            x + (j - 1) * 0.27,
            [s["audio_contribution"][m][str(v)] for m in models],
            width=0.27,
            color=color,
            label=f"AC = {v}",
        )
    axes[1].set_xticks(x, models)
    axes[1].set_ylabel("items")
    axes[1].set_title("audio contribution per panel member")
    axes[1].legend()
    return _save(plt, fig, out / "contribution.png")


def _panel(plt: Any, s: dict[str, Any], out: Path) -> Path:
    import numpy as np

    mass = s.get("letter_mass") or {}
    fig, axes = plt.subplots(1, 3 if mass else 2, figsize=(18 if mass else 12, 4.5))
    acc = s["accuracy"]
    models = [m for m in s["models"] if m in acc] or sorted(acc)
    conditions = sorted({c for m in models for c in acc[m]})
    x = np.arange(len(models))
    width = 0.8 / max(len(conditions), 1)
    for j, c in enumerate(conditions):
        axes[0].bar(
            x + (j - (len(conditions) - 1) / 2) * width,
            [acc[m].get(c, 0) or 0 for m in models],
            width=width,
            label=c,
        )
    axes[0].set_xticks(x, models)
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("accuracy")
    axes[0].set_title("per-model accuracy by condition")
    if conditions:
        axes[0].legend()
    names = s["models"]
    k = np.full((len(names), len(names)), np.nan)
    for i in range(len(names)):
        k[i, i] = 1.0
    for p in s["pairs"]:
        if p["a"] in names and p["b"] in names and p["cohen_kappa"] is not None:
            i, j = names.index(p["a"]), names.index(p["b"])
            k[i, j] = k[j, i] = p["cohen_kappa"]
    im = axes[1].imshow(k, vmin=-1, vmax=1, cmap="RdBu")
    axes[1].set_xticks(range(len(names)), names)
    axes[1].set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            if not np.isnan(k[i, j]):
                axes[1].text(
                    j,
                    i,
                    f"{k[i, j]:.2f}",
                    ha="center",
                    va="center",
                    color="white" if abs(k[i, j]) > 0.6 else "black",
                )
    fig.colorbar(im, ax=axes[1])
    fleiss = s["fleiss_kappa"]
    axes[1].set_title(f"Cohen's kappa on silence (Fleiss' {'-' if fleiss is None else f'{fleiss:.3f}'})")
    if mass:
        ms = list(mass)
        med = [mass[m]["median"] for m in ms]
        p10 = [mass[m]["p10"] for m in ms]
        axes[2].bar(ms, med, color=["tab:red" if mass[m]["low"] else "tab:blue" for m in ms], label="median")
        axes[2].scatter(ms, p10, color="black", marker="_", s=400, zorder=3, label="10th percentile")
        axes[2].axhline(s.get("letter_mass_threshold", 0.5), color="gray", linestyle="--", label="warn below")
        axes[2].set_ylim(0, 1)
        axes[2].set_ylabel("P(option letters) where read")
        axes[2].set_title("letter mass per letters-mode member")
        axes[2].legend()
    return _save(plt, fig, out / "panel.png")


def _prompts(plt: Any, name: str, s: dict[str, Any], out: Path) -> Path:
    import numpy as np

    rows = s["by_question_type"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["pool_share"] for r in rows], width=0.4, label=f"pool ({s['pool']})", color="tab:gray")
    ax.bar(
        x + 0.2, [r["chosen_share"] for r in rows], width=0.4, label=f"chosen ({s['n']})", color="tab:blue"
    )
    ax.set_xticks(x, [r["question_type"] for r in rows])
    ax.set_ylabel("share")
    ax.set_title(f"prompt set {name}: question types against the {s.get('split') or '?'} pool")
    ax.legend()
    return _save(plt, fig, out / f"prompts-{_safe(name)}.png")


def _rollouts(plt: Any, name: str, s: dict[str, Any], out: Path) -> Path:
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    comps = s["rewards"]
    _barh(axes[0], list(comps), [c["mean"] or 0 for c in comps.values()], "mean reward by component", "mean")
    _barh(axes[1], list(s["parse"]), list(s["parse"].values()), "parse layer / no-credit reason")
    h = s["completion_length"]
    edges = np.asarray(h["edges"])
    axes[2].bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="tab:cyan")
    axes[2].set_xlabel("completion tokens")
    axes[2].set_ylabel("completions")
    axes[2].set_title(f"lengths (truncated {100 * (s['truncated_share'] or 0):.0f}%)")
    zero = s["zero_signal_share"]
    fig.suptitle(
        f"rollouts {name}: {s['groups']} groups x {s['k']}, accuracy {s['accuracy']}, "
        f"zero-signal groups {'-' if zero is None else f'{100 * zero:.0f}%'}"
    )
    return _save(plt, fig, out / f"rollouts-{_safe(name)}.png")


def _training(plt: Any, name: str, s: dict[str, Any], out: Path) -> Path | None:
    keys = s.get("plotted") or []
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        c = s["curves"][key]
        ax.plot(c["step"], c["value"], marker="." if len(c["step"]) < 50 else None)
        ax.set_xlabel("step")
        ax.set_title(key)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_axis_off()
    fig.suptitle(f"training run {name}")
    return _save(plt, fig, out / f"training-{_safe(name)}.png")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _grouped(ax: Any, labels: list[str], series: dict[str, list[float]]) -> None:
    import numpy as np

    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for j, (name, values) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * width, values, width=width, label=name)
    ax.set_xticks(x, labels)
    if series:
        ax.legend()


def _predictions(plt: Any, name: str, s: dict[str, Any], out: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    conds = s["conditions"]
    types = sorted({t for c in conds.values() for t in c["by_question_type"]})
    _grouped(
        axes[0],
        ["overall", *types],
        {
            c: [
                r["accuracy"] or 0,
                *((r["by_question_type"].get(t) or {}).get("accuracy") or 0 for t in types),
            ]
            for c, r in conds.items()
        },
    )
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("top-1 accuracy")
    axes[0].set_title("accuracy by question type")
    letters = {f"predicted ({c})": r["letters"]["predicted"] for c, r in conds.items()}
    gold = next(iter(conds.values()))["letters"]["gold"] if conds else {}
    keys = list(dict.fromkeys(k for d in [gold, *letters.values()] for k in d))
    _grouped(
        axes[1],
        keys,
        {
            **{k: [v.get(x, 0) for x in keys] for k, v in letters.items()},
            "gold": [gold.get(x, 0) for x in keys],
        },
    )
    axes[1].set_ylabel("items")
    axes[1].set_title("predicted letters against gold (position bias)")
    reasons = [
        (f"{c}: {reason}", v["share"])
        for c, r in conds.items()
        for reason, v in r["no_credit"]["by_reason"].items()
    ]
    _barh(
        axes[2],
        [r for r, _ in reasons],
        [v for _, v in reasons],
        "uncredited outputs by reason",
        "share of outputs",
    )
    gap = (s.get("gap") or {}).get("overall", {}).get("gap")
    acc = ", ".join(f"{c} {_pct(r['accuracy'])}" for c, r in conds.items())
    fig.suptitle(
        f"predictions {name} ({s.get('model')}): accuracy {acc}"
        + ("" if gap is None else f", gap {100 * gap:+.1f} points")
    )
    return _save(plt, fig, out / f"predictions-{_safe(name)}.png")


def write_plots(report: dict[str, Any], out_dir: str | Path, inside: str | Path | None = None) -> list[Path]:
    """Draw every section of a `stats` report into `out_dir`, which must resolve inside `inside` (the
    workspace, for the default folder); returns the files written."""
    plt = _pyplot()
    out = Path(out_dir)
    ensure_folder(out, Path(inside) if inside is not None else out)
    sec = report["sections"]
    written: list[Path | None] = []
    if "items" in sec:
        written.append(_items(plt, sec["items"], out))
    if "splits" in sec:
        written.append(_splits(plt, sec["splits"], out))
    if "contribution" in sec:
        written.append(_contribution(plt, sec["contribution"], out))
    if "panel" in sec:
        written.append(_panel(plt, sec["panel"], out))
    for name, s in (sec.get("prompts") or {}).items():
        written.append(_prompts(plt, name, s, out))
    for name, s in (sec.get("rollouts") or {}).items():
        if s["rows"]:  # an empty set has nothing to draw (its table says so)
            written.append(_rollouts(plt, name, s, out))
    for name, s in (sec.get("training") or {}).items():
        written.append(_training(plt, name, s, out))
    for name, s in (sec.get("predictions") or {}).items():
        written.append(_predictions(plt, name, s, out))
    return [p for p in written if p is not None]
