"""The only code that describes the tables `filter` writes (`item_scores`, `votes`): what `stats` reports.

    splits        weak / strong by source and by question type
    contribution  audio contribution per panel member (-1 / 0 / 1 counts) and the continuous score
    panel         agreement of the panel on silence: Fleiss' kappa over all members, Cohen's kappa per
                  pair, per-model accuracy under every condition, each letters-mode member's letter mass

Panel agreement is over the permutation-averaged silent answers, the rule the filter votes with
(`voting.aggregate`): a member's answer to an item is the unique argmax of its option probabilities
averaged over the option rotations (a missing vector counts as zero mass; a tie at the top is no
answer), correct when it is the gold option. Fleiss' kappa needs only, per item, how many members were
correct, which `item_scores` stores (`silence_correct`); Cohen's kappa per pair and per-model accuracies
read the votes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from ...core.errors import UserError
from ...core.frames import frame, histogram, quantiles, rounded, subdirs
from ...core.schema import ITEM_SCORES, VOTES
from ...core.workspace import Workspace
from .voting import MIN_LETTER_MASS, GoldItem, aggregate, mass_quantiles

SCORE_BINS = 20  # continuous contribution score histogram over [-1, 1]


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


# -------------------------------------------------------------------------------------------- sections
def item_scores(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    """The dataset's `item_scores` table as a frame; None before the filter has run."""
    return frame(ws.table_dir(ITEM_SCORES.name, dataset), ITEM_SCORES)


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
    """Weak / strong counts, overall and by source and question type."""
    weak = int((scores["split"] == "weak").sum())
    return {
        "items": scores.height,
        "weak": weak,
        "strong": scores.height - weak,
        "strong_share": rounded((scores.height - weak) / scores.height) if scores.height else None,
        "by_source": _split_by(scores, "source_dataset"),
        "by_question_type": _split_by(scores, "question_type"),
    }


def _models_of(scores: pl.DataFrame) -> list[str]:
    models = scores["models"].drop_nulls()
    return list(models[0]) if len(models) else []


def contribution_section(scores: pl.DataFrame) -> dict[str, Any]:
    """Per panel member, how many items it scored -1 / 0 / 1; the continuous score's spread."""
    models = _models_of(scores)
    ac = np.asarray(scores["audio_contribution"].to_list(), dtype=np.int64).reshape(scores.height, -1)
    per_model = {m: {str(v): int((ac[:, i] == v).sum()) for v in (-1, 0, 1)} for i, m in enumerate(models)}
    score = scores["contribution_score"].drop_nulls().to_numpy().astype(np.float64)
    return {
        "models": models,
        "audio_contribution": per_model,
        "score": quantiles(score),
        "score_histogram": histogram(score, SCORE_BINS, -1.0, 1.0),
    }


def _votes_frame(ws: Workspace, dataset: str) -> pl.DataFrame | None:
    """Every votes row of the dataset (the columns the summary reads), None without a votes table."""
    cols = ["model", "item_id", "condition", "permutation", "option_probs", "letter_mass"]
    frames = []
    for mdir in subdirs(ws.table_dir(VOTES.name, dataset)):
        for cdir in subdirs(mdir):
            f = frame(cdir, VOTES, cols)
            if f is not None:
                frames.append(f)
    return pl.concat(frames) if frames else None


def letter_mass_of(votes: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Per model with letters-mode votes: `mass_quantiles` over every read (item, condition, rotation)
    and whether its median is below the filter's default threshold."""
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


def _pairs(answers: pl.DataFrame, models: list[str]) -> list[dict[str, Any]]:
    """Agreement and Cohen's kappa of every pair of members on the silent answers."""
    wide = (
        answers.filter(pl.col("condition") == "silence")
        .pivot(on="model", index="item_id", values="correct")
        .drop_nulls()
    )
    present = [m for m in models if m in wide.columns] or sorted(c for c in wide.columns if c != "item_id")
    pairs = []
    for i, a in enumerate(present):
        for b in present[i + 1 :]:
            x, y = wide[a].to_numpy(), wide[b].to_numpy()
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "items": len(x),
                    "agreement": rounded(float(np.mean(x == y))),
                    "cohen_kappa": rounded(cohen_kappa(x, y)),
                }
            )
    return pairs


def panel_section(ws: Workspace, dataset: str, scores: pl.DataFrame) -> dict[str, Any]:
    """The panel's agreement and accuracies (module docstring)."""
    models = _models_of(scores)
    silent = scores["silence_correct"].to_numpy().astype(np.int64)
    fleiss = fleiss_kappa(np.stack([silent, len(models) - silent], axis=1)) if models else None
    out: dict[str, Any] = {
        "models": models,
        "fleiss_kappa": rounded(fleiss),
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
    out["pairs"] = _pairs(answers, models)
    return out
