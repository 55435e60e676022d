"""`adqa-data stats`: the state of one dataset across every stage, as plain JSON-able data.

One job, kept in one module (hence its length): reading every stage's tables of one dataset into one report; each section is a small function below.

One call reads whatever the workspace holds for a dataset and returns one section per stage:

    items        items by upstream split, source and type; quarantine by stage and reason (download, ...)
    splits       weak / strong by source and by question type (filter)
    contribution audio contribution per model (-1 / 0 / 1 counts) and the continuous score's histogram
    panel        agreement of the panel on silence: Fleiss' kappa over all members, Cohen's kappa per pair,
                 per-model accuracy under every condition, and each letters-mode member's letter mass
                 (median, 10th percentile, minimum; flagged below filter's default --min-letter-mass)
    prompts      each prompt set's balance against the pool it was drawn from (sample)
    rollouts     each complete rollout set: the rollout stage's own summary (accuracy, parse reasons,
                 zero-signal groups as rollout flagged them), reward components, completion lengths
    training     each training run's metrics log (runs/<dataset>/<name>/*.jsonl): curves and last values
    predictions  each finished eval prediction set: accuracy per condition overall and per question type,
                 source and part, the audio-dependency gap, predicted against gold letters, uncredited
                 outputs by reason. Computed by eval's own `summarize`, so these are the numbers eval printed

A section whose tables are absent is listed under `skipped` with the reason, never an error, so the
command works on a workspace at any point of the chain. Aggregations run in polars over the Parquet
shards; the plots (`adqa_data.plots`) draw from this report alone.

Panel agreement is over the permutation-averaged silent answers, the rule the filter stage votes with: a
member's answer to an item is the unique argmax of its option probabilities averaged over the option
rotations (a missing vector counts as zero mass; a tie at the top is no answer), correct when it is the
gold option. Fleiss' kappa needs only, per item, how many members were correct, which the `item_scores`
table stores (`silence_correct`); Cohen's kappa per pair and per-model accuracies read the votes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..core.errors import UserError
from ..core.schema import ITEM_SCORES, PREDICTIONS, PROMPTS, QUARANTINE, VOTES, TableSpec
from ..core.workspace import Workspace, read_table, shard_paths
from .eval.stage import summarize
from .filter.voting import MIN_LETTER_MASS, GoldItem, aggregate, mass_quantiles
from .rollout import contract as rollout_contract
from .rollout.summary import summarize as summarize_rollouts

SECTIONS = ("items", "splits", "contribution", "panel", "prompts", "rollouts", "training", "predictions")
SCORE_BINS = 20  # continuous contribution score histogram over [-1, 1]
LENGTH_BINS = 20
# curves drawn from a run's metrics log (all keys are reported): TRL's names and the bundled trainer's
TRAINING_KEYS = (
    "reward",
    "kl",
    "loss",
    "nll",
    "clip_ratio",
    "clip_ratio/region_mean",
    "entropy",
    "grad_norm",
    "learning_rate",
)
MAX_CURVES = 9


# ------------------------------------------------------------------------------------------- agreement
def fleiss_kappa(counts: Sequence[Sequence[int]] | np.ndarray) -> float | None:
    """Fleiss' kappa from an [items, categories] matrix of how many raters chose each category.

    Every item must have the same number of raters n >= 2. None when it is undefined: no items, fewer
    than two raters, or every rating in one category (chance agreement is 1)."""
    m = np.asarray(counts, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0:
        return None
    n = m.sum(axis=1)
    if not np.all(n == n[0]):
        raise ValueError("Fleiss' kappa needs the same number of raters for every item")
    raters = float(n[0])
    if raters < 2:
        return None
    p_j = m.sum(axis=0) / (m.shape[0] * raters)
    p_i = ((m * m).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = float(p_i.mean()), float((p_j * p_j).sum())
    return None if p_e >= 1.0 - 1e-12 else (p_bar - p_e) / (1.0 - p_e)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters over the same items (any hashable labels); None when undefined."""
    if len(a) != len(b):
        raise ValueError("Cohen's kappa needs both raters on the same items")
    if not len(a):
        return None
    x, y = np.asarray(a), np.asarray(b)
    labels = np.union1d(x, y)
    p_o = float(np.mean(x == y))
    p_e = float(sum(np.mean(x == c) * np.mean(y == c) for c in labels))
    return None if p_e >= 1.0 - 1e-12 else (p_o - p_e) / (1.0 - p_e)


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd) + 0.0


# --------------------------------------------------------------------------------------------- reading
def _frame(directory: Path, spec: TableSpec, columns: list[str] | None = None) -> pl.DataFrame | None:
    """A table directory as a polars frame, None when it holds no shard."""
    if not shard_paths(directory):
        return None
    return pl.from_arrow(read_table(directory, spec, columns))  # type: ignore[return-value]


def _subdirs(directory: Path) -> list[Path]:
    return (
        sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
        if directory.is_dir()
        else []
    )


def _counts(df: pl.DataFrame, *keys: str) -> list[dict[str, Any]]:
    """Row counts by `keys`, nulls shown as '(none)', sorted by the keys."""
    return (
        df.select([pl.col(k).cast(pl.String).fill_null("(none)") for k in keys])
        .group_by(list(keys))
        .len("count")
        .sort(list(keys))
        .to_dicts()
    )


def _histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> dict[str, list[float]]:
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {}
    return {
        "mean": _round(values.mean()),
        "p10": _round(np.percentile(values, 10)),
        "median": _round(np.median(values)),
        "p90": _round(np.percentile(values, 90)),
        "max": _round(values.max()),
    }


# -------------------------------------------------------------------------------------------- sections
def items_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    items = pl.from_arrow(
        ws.items(dataset, columns=["split", "source_dataset", "question_type", "answer_index"])
    )
    q_frames = [
        f
        for d in _subdirs(ws.table_dir(QUARANTINE.name, dataset))
        if (f := _frame(d, QUARANTINE, ["stage", "reason"])) is not None
    ]
    if items.height == 0 and not q_frames:  # type: ignore[union-attr]
        return None
    quarantine = (
        pl.concat(q_frames)
        if q_frames
        else pl.DataFrame({"stage": [], "reason": []}, schema={"stage": pl.String, "reason": pl.String})
    )
    prov = ws.provenance("download", dataset) or {}
    return {
        "items": items.height,  # type: ignore[union-attr]
        "input_rows": prov.get("summary", {}).get("input_rows"),
        "with_answer": int(items["answer_index"].is_not_null().sum()),  # type: ignore[index]
        "by_split": _counts(items, "split"),  # type: ignore[arg-type]
        "by_source": _counts(items, "source_dataset"),  # type: ignore[arg-type]
        "by_question_type": _counts(items, "question_type"),  # type: ignore[arg-type]
        "quarantined": quarantine.height,
        "quarantine": _counts(quarantine, "stage", "reason"),
    }


def _split_by(scores: pl.DataFrame, key: str) -> list[dict[str, Any]]:
    return (
        scores.with_columns(pl.col(key).cast(pl.String).fill_null("(none)"))
        .group_by(key)
        .agg(
            items=pl.len(), weak=(pl.col("split") == "weak").sum(), strong=(pl.col("split") == "strong").sum()
        )
        .with_columns(strong_share=(pl.col("strong") / pl.col("items")).round(4))
        .sort(key)
        .to_dicts()
    )


def splits_section(scores: pl.DataFrame) -> dict[str, Any]:
    weak = int((scores["split"] == "weak").sum())
    return {
        "items": scores.height,
        "weak": weak,
        "strong": scores.height - weak,
        "strong_share": _round((scores.height - weak) / scores.height) if scores.height else None,
        "by_source": _split_by(scores, "source_dataset"),
        "by_question_type": _split_by(scores, "question_type"),
    }


def _models_of(scores: pl.DataFrame) -> list[str]:
    models = scores["models"].drop_nulls()
    return list(models[0]) if len(models) else []


def contribution_section(scores: pl.DataFrame) -> dict[str, Any]:
    models = _models_of(scores)
    ac = np.asarray(scores["audio_contribution"].to_list(), dtype=np.int64).reshape(scores.height, -1)
    per_model = {m: {str(v): int((ac[:, i] == v).sum()) for v in (-1, 0, 1)} for i, m in enumerate(models)}
    score = scores["contribution_score"].drop_nulls().to_numpy().astype(np.float64)
    return {
        "models": models,
        "audio_contribution": per_model,
        "score": _quantiles(score),
        "score_histogram": _histogram(score, SCORE_BINS, -1.0, 1.0),
    }


def _votes_frame(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    """Every votes row of the dataset (the columns stats reads), None without a votes table."""
    cols = ["model", "item_id", "condition", "permutation", "option_probs", "letter_mass"]
    frames = []
    for mdir in _subdirs(ws.table_dir(VOTES.name, dataset)):
        for cdir in _subdirs(mdir):
            f = _frame(cdir, VOTES, cols)
            if f is not None:
                frames.append(f)
    return pl.concat(frames) if frames else None


def letter_mass_of(votes: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per model with letters-mode votes: filter's `mass_quantiles` over every read (item, condition,
    rotation) and whether its median is below filter's default threshold."""
    out = {}
    for (model,), g in votes.filter(pl.col("letter_mass").is_not_null()).group_by("model"):
        q = mass_quantiles(g["letter_mass"].cast(pl.Float64).to_numpy())
        out[str(model)] = {**q, "low": q["median"] < MIN_LETTER_MASS}
    return dict(sorted(out.items()))


def _answers_from_votes(votes: pl.DataFrame, gold: pl.DataFrame) -> pl.DataFrame:
    """(model, condition, item_id, correct): each member's permutation-averaged answer, scored by the
    filter's own rule (`voting.aggregate`: the unique argmax of the averaged probabilities)."""
    items = {
        r["item_id"]: GoldItem(r["item_id"], int(r["answer_index"]), len(r["choices"]))
        for r in gold.to_dicts()
        if r["answer_index"] is not None
    }
    rows = votes.select("model", "item_id", "condition", "option_probs").to_dicts()
    answers = aggregate(rows, items)
    return pl.DataFrame(
        [
            {"model": m, "condition": c, "item_id": i, "correct": a.correct}
            for (m, i, c), a in answers.items()
        ],
        schema={"model": pl.String, "condition": pl.String, "item_id": pl.String, "correct": pl.Boolean},
    )


def panel_section(ws: Workspace, dataset: str, scores: pl.DataFrame) -> dict[str, Any]:
    models = _models_of(scores)
    silent = scores["silence_correct"].to_numpy().astype(np.int64)
    fleiss = fleiss_kappa(np.stack([silent, len(models) - silent], axis=1)) if models else None
    out: dict[str, Any] = {
        "models": models,
        "fleiss_kappa": _round(fleiss),
        "pairs": [],
        "accuracy": {},
        "silence_correct_histogram": {str(k): int((silent == k).sum()) for k in range(len(models) + 1)},
    }
    try:
        votes = _votes_frame(ws, dataset)
    except UserError as e:  # votes of an older schema (a filter rerun recomputes them) or a broken shard
        out["note"] = f"votes not read ({e.what}): rerun 'adqa-data filter'"
        return out
    if votes is None:
        out["note"] = "no votes tables: per-model accuracy, pairwise kappa and letter mass skipped"
        return out
    scored = pl.col("item_id").is_in(scores["item_id"].implode())
    votes = votes.filter(scored)
    out["letter_mass"] = letter_mass_of(votes)
    out["letter_mass_threshold"] = MIN_LETTER_MASS
    gold = pl.from_arrow(ws.items(dataset, columns=["item_id", "answer_index", "choices"])).with_columns(
        pl.col("answer_index").cast(pl.Int64)
    )
    answers = _answers_from_votes(votes, gold.filter(scored))  # type: ignore[arg-type]
    acc = (
        answers.group_by("model", "condition")
        .agg(pl.col("correct").mean().round(4))
        .sort("model", "condition")
    )
    for r in acc.to_dicts():
        out["accuracy"].setdefault(r["model"], {})[r["condition"]] = r["correct"]
    wide = (
        answers.filter(pl.col("condition") == "silence")
        .pivot(on="model", index="item_id", values="correct")
        .drop_nulls()
    )
    present = [m for m in models if m in wide.columns] or sorted(c for c in wide.columns if c != "item_id")
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            x, y = wide[a].to_numpy(), wide[b].to_numpy()
            out["pairs"].append(
                {
                    "a": a,
                    "b": b,
                    "items": len(x),
                    "agreement": _round(float(np.mean(x == y))),
                    "cohen_kappa": _round(cohen_kappa(x, y)),
                }
            )
    return out


def _pool_frame(ws: Workspace, dataset: str, split: str | None) -> pl.DataFrame:
    items = pl.from_arrow(
        ws.items(dataset, columns=["item_id", "question_type", "source_dataset", "answer_index"])
    )
    items = items.filter(pl.col("answer_index").is_not_null())  # type: ignore[union-attr]
    if split in ("weak", "strong"):
        scores = _frame(ws.table_dir(ITEM_SCORES.name, dataset), ITEM_SCORES, ["item_id", "split"])
        if scores is not None:
            items = items.filter(
                pl.col("item_id").is_in(scores.filter(pl.col("split") == split)["item_id"].implode())
            )
    return items


def _balance(pool: pl.DataFrame, chosen: pl.DataFrame, key: str) -> list[dict[str, Any]]:
    p = pool.select(pl.col(key).cast(pl.String).fill_null("(none)")).group_by(key).len("pool")
    c = chosen.select(pl.col(key).cast(pl.String).fill_null("(none)")).group_by(key).len("chosen")
    return (
        p.join(c, on=key, how="full", coalesce=True)
        .fill_null(0)
        .with_columns(
            pool_share=(pl.col("pool") / max(pool.height, 1)).round(4),
            chosen_share=(pl.col("chosen") / max(chosen.height, 1)).round(4),
        )
        .sort(key)
        .to_dicts()
    )


def prompts_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    sets: dict[str, Any] = {}
    for d in _subdirs(ws.table_dir(PROMPTS.name, dataset)):
        chosen = _frame(d, PROMPTS)
        if chosen is None:
            continue
        config = (ws.provenance("sample", dataset, d.name) or {}).get("config", {})
        pool = _pool_frame(ws, dataset, config.get("split"))
        sets[d.name] = {
            "n": chosen.height,
            "split": config.get("split"),
            "weights": config.get("weights"),
            "pool": pool.height,
            "by_question_type": _balance(pool, chosen, "question_type"),
            "by_source": _balance(pool, chosen, "source_dataset"),
        }
    return sets or None


def rollouts_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Each complete rollout set: the rollout stage's own summary (`rollout.summary.summarize`, read
    through the set's contract) and the distributions behind it (reward components, completion lengths,
    advantages, accuracy by question type)."""
    sets: dict[str, Any] = {}
    for name in rollout_contract.finished_sets(ws, dataset):
        rset = rollout_contract.open_set(ws, dataset, name)
        table = rset.table()
        if table.num_rows == 0:
            continue
        own = summarize_rollouts(table, rset.config)
        t = pl.from_arrow(table)
        assert isinstance(t, pl.DataFrame)
        reward_cols = sorted(c for c in t.columns if c.startswith("reward_"))
        t = t.with_columns(pl.col([*reward_cols, "reward", "advantage"]).cast(pl.Float64))
        components = {
            ("total" if c == "reward" else c.removeprefix("reward_")): {
                "mean": _round(t[c].mean()),  # type: ignore[arg-type]
                "std": _round(t[c].std()),  # type: ignore[arg-type]
                "rows": int(t[c].is_not_null().sum()),
            }
            for c in [*reward_cols, "reward"]
        }
        lengths = t["completion_length"].to_numpy().astype(np.float64)
        hi = float(max(lengths.max(), 1.0)) if lengths.size else 1.0
        by_type = (
            t.with_columns(pl.col("question_type").fill_null("(none)"))
            .group_by("question_type")
            .agg(
                rows=pl.len(),
                accuracy=pl.col("reward_correctness").mean().round(4),
                mean_reward=pl.col("reward").mean().round(4),
            )
            .sort("question_type")
            .to_dicts()
        )
        sets[name] = {
            "rows": own["rows"],
            "groups": own["groups"],
            "k": own["k"],
            "policy": t["policy"][0],
            "rewards": components,
            "accuracy": own["accuracy"],
            "parse": own["parse"],
            "zero_signal_share": own["zero_signal_share"],
            "zero_signal_groups": own["zero_signal_groups"],
            "zero_signal_flag_share": own["zero_signal_share"],  # one rule: the flag rollout wrote
            "completion_length": {**_quantiles(lengths), **_histogram(lengths, LENGTH_BINS, 0.0, hi)},
            "truncated_share": own["truncated_share"],
            "advantage": _quantiles(t["advantage"].to_numpy().astype(np.float64)),
            "by_question_type": by_type,
        }
    return sets or None


def read_metrics_log(path: Path) -> tuple[list[dict[str, float]], int]:
    """Numeric fields of every JSON object line of a metrics log, and the count of lines skipped."""
    rows, skipped = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        if not isinstance(obj, dict):
            skipped += 1
            continue
        num = {
            k: float(v)
            for k, v in obj.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        if num:
            rows.append(num)
        else:
            skipped += 1
    return rows, skipped


def training_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    runs: dict[str, Any] = {}
    for d in _subdirs(ws.root / "runs" / dataset):
        logs = sorted(d.glob("*.jsonl"))
        if not logs:
            continue
        rows: list[dict[str, float]] = []
        skipped = 0
        for log in logs:
            r, s = read_metrics_log(log)
            rows += r
            skipped += s
        if not rows:
            runs[d.name] = {
                "files": [p.name for p in logs],
                "records": 0,
                "skipped_lines": skipped,
                "curves": {},
            }
            continue
        df = pl.DataFrame(rows)  # keys missing from a line are null
        if "step" not in df.columns:
            df = df.with_row_index("step").with_columns(pl.col("step").cast(pl.Float64))
        keys = [c for c in df.columns if c != "step"]
        curves = {}
        for k in keys:
            s = df.select("step", k).drop_nulls().sort("step")
            if s.height:
                curves[k] = {
                    "step": [int(x) if float(x).is_integer() else x for x in s["step"].to_list()],
                    "value": [round(float(v), 6) for v in s[k].to_list()],
                }
        runs[d.name] = {
            "files": [p.name for p in logs],
            "records": df.height,
            "skipped_lines": skipped,
            "last": {k: c["value"][-1] for k, c in curves.items()},
            "curves": curves,
            "plotted": [k for k in curves if k in TRAINING_KEYS or k.startswith("reward")][:MAX_CURVES],
        }
    return runs or None


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
    left = [d.name for d in _subdirs(ws.table_dir(PREDICTIONS.name, dataset)) if d.name not in finished]
    if left:
        return (
            f"no finished prediction set ({', '.join(left)} did not finish: rerun 'adqa-data eval' to resume)"
        )
    return "no prediction set: run 'adqa-data eval' first"


# ------------------------------------------------------------------------------------------------ entry
def stats(ws: Workspace, dataset: str | None = None, sections: Sequence[str] = SECTIONS) -> dict[str, Any]:
    """Every section the workspace has data for (module docstring); absent ones under `skipped`."""
    ds = ws.dataset(dataset).name
    out: dict[str, Any] = {"workspace": str(ws.root), "dataset": ds, "sections": {}, "skipped": {}}
    scores = _frame(ws.table_dir(ITEM_SCORES.name, ds), ITEM_SCORES)
    no_filter = "no item_scores table: run 'adqa-data filter' first"
    builders = {
        "items": (lambda: items_section(ws, ds), "no items: run 'adqa-data download' first"),
        "splits": (lambda: splits_section(scores) if scores is not None else None, no_filter),
        "contribution": (lambda: contribution_section(scores) if scores is not None else None, no_filter),
        "panel": (lambda: panel_section(ws, ds, scores) if scores is not None else None, no_filter),
        "prompts": (lambda: prompts_section(ws, ds), "no prompt set: run 'adqa-data sample' first"),
        "rollouts": (lambda: rollouts_section(ws, ds), "no rollout set: run 'adqa-data rollout' first"),
        "training": (
            lambda: training_section(ws, ds),
            f"no metrics log under runs/{ds}/: run 'adqa-data train' first",
        ),
        "predictions": (lambda: predictions_section(ws, ds), lambda: _no_predictions(ws, ds)),
    }
    for name in sections:
        build, why = builders[name]
        section = build()
        if section is None:
            out["skipped"][name] = why() if callable(why) else why
        else:
            out["sections"][name] = section
    return out
