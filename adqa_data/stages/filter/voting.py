"""The voting rules of the filter stage: audio contribution from panel votes, kept apart from running models.

Everything here is a pure function over votes rows, so the rules are tested on planted votes without a
model (tests/stages/filter/test_filter.py) and read in one place:

1. **Permutation average.** A model answers an item under K cyclic rotations of its options. Each
   rotation's probabilities are mapped back to the original option order (done when the votes are
   written) and averaged here. The model's answer is the *unique* argmax of the average; a tie at the
   top (within `TIE_TOLERANCE`) is no answer. That tie rule is what makes the average undo a letter
   preference: a model that always says "A" spreads its mass evenly over the options once rotated,
   and an even spread is not knowledge. With K = 1 the average is the single answer itself.
2. **Audio contribution** per model and item: AC = 1[correct | audio] - 1[correct | silence], each
   read from the permutation-averaged answer (the AudioMCQ paper, ICLR 2026, eq. 1).
3. **The vote**: weak when at least `min_correct` panel members answer correctly on silence, else
   strong (the AudioMCQ paper: 2 of 3). A tie at the threshold is weak ("at least"). A panel smaller than
   `min_correct` is refused, not clamped: clamping would silently change the rule's meaning (a 1-model
   panel would call weak every item that one model guesses).
4. **The continuous score** (not in the paper): mean over models of P(correct | audio) -
   P(correct | silence) with permutation-averaged probabilities, in [-1, 1]. It ranks items inside a
   split; with generate mode the probabilities are one-hot, so it reduces to the mean AC.
5. **Letter mass** (letters mode): each vote row records how much full-vocabulary probability the shown
   letters held before renormalising. Its median per member, over every row of every condition and
   rotation, is what `low_letter_mass` compares with `--min-letter-mass`: a low median says the
   letters are read off-distribution for that member, whatever the condition.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ...core.errors import UserError
from ...mcq.answers import LETTERS

WEAK, STRONG = "weak", "strong"
TIE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class GoldItem:
    """What scoring needs to know about an item: its gold answer and how it is grouped in statistics."""

    item_id: str
    answer_index: int
    n_options: int
    source_dataset: str | None = None
    question_type: str | None = None


@dataclass(frozen=True)
class ModelAnswer:
    """One model's permutation-averaged answer to one item under one condition."""

    predicted: int | None  # original option order; None = no unique answer
    correct: bool
    p_correct: float  # averaged probability of the gold option
    probs: tuple[float, ...]


# ---------------------------------------------------------------------------------------------- rules
def check_min_correct(min_correct: int, panel_size: int, where: str | None = None) -> None:
    """Refuse a threshold the panel cannot reach (or a meaningless one) with a clear error."""
    if min_correct < 1:
        raise UserError(
            f"--min-correct must be at least 1, got {min_correct}",
            where=where,
            fix="use 1 or more (the paper uses 2 of 3)",
        )
    if min_correct > panel_size:
        raise UserError(
            f"--min-correct {min_correct} exceeds the panel's {panel_size} member(s): no item could ever be weak",
            where=where,
            fix=f"lower --min-correct to at most {panel_size}, or add panel members",
        )


def split_of(silence_correct: int, min_correct: int) -> str:
    """Weak when at least `min_correct` members answer correctly on silence (ties at the threshold: weak)."""
    return WEAK if silence_correct >= min_correct else STRONG


def consensus(probs: np.ndarray) -> int | None:
    """The unique argmax, or None when nothing has mass or the top is shared (within TIE_TOLERANCE)."""
    if probs.size == 0:
        return None
    top = float(probs.max())
    if top <= 0.0:
        return None
    winners = np.flatnonzero(probs >= top - TIE_TOLERANCE)
    return int(winners[0]) if len(winners) == 1 else None


def average_permutations(vectors: Sequence[Sequence[float] | None], n_options: int) -> np.ndarray:
    """Mean of the per-rotation probability vectors (already in original order); a missing vector
    (generate mode, nothing credited) counts as zero mass, i.e. as a wrong answer."""
    acc = np.zeros(n_options, dtype=np.float64)
    for v in vectors:
        if v is not None:
            acc += np.asarray(v, dtype=np.float64)
    return acc / max(len(vectors), 1)


def aggregate(
    votes: Iterable[Mapping[str, Any]], gold: Mapping[str, GoldItem]
) -> dict[tuple[str, str, str], ModelAnswer]:
    """(model, item_id, condition) -> the permutation-averaged answer. Rows of items not in `gold`
    are ignored (they cannot be scored)."""
    groups: dict[tuple[str, str, str], list[Sequence[float] | None]] = defaultdict(list)
    for v in votes:
        if v["item_id"] in gold:
            groups[(v["model"], v["item_id"], v["condition"])].append(v["option_probs"])
    out: dict[tuple[str, str, str], ModelAnswer] = {}
    for key, vectors in groups.items():
        g = gold[key[1]]
        probs = average_permutations(vectors, g.n_options)
        pred = consensus(probs)
        out[key] = ModelAnswer(
            pred, pred == g.answer_index, float(probs[g.answer_index]), tuple(float(p) for p in probs)
        )
    return out


def item_score_rows(
    dataset: str,
    items: Sequence[GoldItem],
    answers: Mapping[tuple[str, str, str], ModelAnswer],
    models: Sequence[str],
    conditions: Sequence[str],
    min_correct: int,
) -> list[dict[str, Any]]:
    """One `item_scores` row per item: AC per model, the vote, the continuous score and the split."""
    check_min_correct(min_correct, len(models))

    def answer_of(model: str, item_id: str, condition: str) -> ModelAnswer:
        try:
            return answers[(model, item_id, condition)]
        except KeyError:
            raise RuntimeError(f"no vote of {model} on {item_id} under {condition}") from None

    rows = []
    for it in items:
        audio = [answer_of(m, it.item_id, "audio") for m in models]
        silent = [answer_of(m, it.item_id, "silence") for m in models]
        per_model = [a.p_correct - s.p_correct for a, s in zip(audio, silent)]
        silence_correct = sum(s.correct for s in silent)
        extra = {
            f"{c}_correct": (
                sum(answer_of(m, it.item_id, c).correct for m in models) if c in conditions else None
            )
            for c in ("noise", "swap")
        }
        rows.append(
            {
                "dataset": dataset,
                "item_id": it.item_id,
                "source_dataset": it.source_dataset,
                "question_type": it.question_type,
                "models": list(models),
                "audio_contribution": [int(a.correct) - int(s.correct) for a, s in zip(audio, silent)],
                "model_contribution_scores": per_model,
                "silence_correct": silence_correct,
                "audio_correct": sum(a.correct for a in audio),
                **extra,
                "contribution_score": float(np.mean(per_model)),
                "min_correct": min_correct,
                "split": split_of(silence_correct, min_correct),
            }
        )
    return rows


# ----------------------------------------------------------------------------------------- statistics
def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters; None when chance agreement is 1 (both constant and equal)."""
    if not a:
        return None
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    po = float(np.mean(x == y))
    pa, pb = float(x.mean()), float(y.mean())
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe >= 1.0 else (po - pe) / (1 - pe)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _strong_share_by(rows: Sequence[Mapping[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    total: Counter[str] = Counter()
    strong: Counter[str] = Counter()
    for r in rows:
        k = "(none)" if r[column] is None else str(r[column])
        total[k] += 1
        strong[k] += r["split"] == STRONG
    return {
        k: {"items": total[k], "strong": strong[k], "strong_share": _share(strong[k], total[k])}
        for k in sorted(total)
    }


def letter_preference(
    votes: Iterable[Mapping[str, Any]], condition: str = "silence"
) -> dict[str, dict[str, float]]:
    """Per model, the share of answers given at each *shown* letter under `condition`.

    A model without a position bias spreads its silent answers roughly evenly; a large share on one
    letter is the bias that `--permutations` averages away."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for v in votes:
        if v["condition"] != condition or v["predicted_index"] is None:
            continue
        n = len(v["option_probs"]) if v["option_probs"] is not None else None
        if not n:
            continue
        counts[v["model"]][LETTERS[(v["predicted_index"] - v["permutation"]) % n]] += 1
    return {
        m: {k: _share(c[k], sum(c.values())) or 0.0 for k in sorted(c)} for m, c in sorted(counts.items())
    }


# The default of `--min-letter-mass`. Under one half, on the typical read the model would rather write
# something that is not an option letter where the letter is read: the letters are read where it does not
# put them (its prefill or prompt style does not fit the checkpoint), and the renormalised vote is a guess
# about an event the model itself finds unlikely. A reporting threshold only: it changes no vote.
MIN_LETTER_MASS = 0.5


def mass_quantiles(values: Sequence[float]) -> dict[str, Any]:
    """Median, 10th percentile and minimum of letter masses (the low tail is what matters), and the count."""
    x = np.asarray(values, dtype=np.float64)
    return {
        "votes": int(x.size),
        "median": round(float(np.median(x)), 4),
        "p10": round(float(np.percentile(x, 10)), 4),
        "min": round(float(x.min()), 4),
    }


def letter_mass(votes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model with letters-mode votes: `mass_quantiles` over all its rows, and the median per condition.

    Every rotation is its own row, so a member is summarised over (item, condition, rotation) reads, the
    unit at which a letter is read. Models without a recorded mass (options, generate) are absent."""
    by_model: dict[str, list[float]] = defaultdict(list)
    by_cond: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for v in votes:
        if v.get("letter_mass") is not None:
            by_model[v["model"]].append(float(v["letter_mass"]))
            by_cond[v["model"]][v["condition"]].append(float(v["letter_mass"]))
    return {
        m: {
            **mass_quantiles(x),
            "median_by_condition": {c: round(float(np.median(y)), 4) for c, y in sorted(by_cond[m].items())},
        }
        for m, x in sorted(by_model.items())
    }


def low_letter_mass(stats: Mapping[str, Any], threshold: float) -> list[dict[str, Any]]:
    """One warning per member whose median letter mass (from `statistics`) is below `threshold`."""
    out = []
    for m, d in stats.get("models", {}).items():
        mass = d.get("letter_mass")
        if mass and mass["median"] < threshold:
            out.append(
                {
                    "warning": "low_letter_mass",
                    "member": m,
                    "median_letter_mass": mass["median"],
                    "threshold": threshold,
                    "message": (
                        f"member {m}: median letter mass {mass['median']:.3f} < {threshold:g}: its option "
                        "letters are read where it puts little probability (prompt style or prefill does not "
                        "fit this checkpoint); check it with --audit N or use --mode generate"
                    ),
                }
            )
    return out


def statistics(
    rows: Sequence[Mapping[str, Any]],
    answers: Mapping[tuple[str, str, str], ModelAnswer],
    models: Sequence[str],
    conditions: Sequence[str],
    min_correct: int,
    letters: Mapping[str, Mapping[str, float]] | None = None,
    masses: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything a researcher checks after a filter run, as JSON-able data (also the provenance summary)."""
    n = len(rows)
    strong = sum(r["split"] == STRONG for r in rows)
    ids = [r["item_id"] for r in rows]
    per_model: dict[str, Any] = {}
    for i, m in enumerate(models):
        acc = {c: _share(sum(answers[(m, x, c)].correct for x in ids), n) for c in conditions}
        per_model[m] = {
            "accuracy": acc,
            "mean_audio_contribution": round(float(np.mean([r["audio_contribution"][i] for r in rows])), 4)
            if n
            else None,
            "mean_contribution_score": round(
                float(np.mean([r["model_contribution_scores"][i] for r in rows])), 4
            )
            if n
            else None,
        }
        if letters and m in letters:
            per_model[m]["silence_letter_share"] = dict(letters[m])
        if masses and m in masses:
            per_model[m]["letter_mass"] = dict(masses[m])
    silent = {m: [answers[(m, x, "silence")].correct for x in ids] for m in models}
    agreement = [
        {
            "a": a,
            "b": b,
            "agreement": _share(sum(p == q for p, q in zip(silent[a], silent[b])), n),
            "kappa": None if (k := cohen_kappa(silent[a], silent[b])) is None else round(k, 4),
        }
        for a, b in combinations(models, 2)
    ]
    scores = np.asarray([r["contribution_score"] for r in rows], dtype=np.float64)
    hist = Counter(r["silence_correct"] for r in rows)
    return {
        "items": n,
        "weak": n - strong,
        "strong": strong,
        "strong_share": _share(strong, n),
        "min_correct": min_correct,
        "panel": list(models),
        "conditions": list(conditions),
        "silence_correct_histogram": {str(k): hist.get(k, 0) for k in range(len(models) + 1)},
        "contribution_score": (
            {
                "mean": round(float(scores.mean()), 4),
                "p10": round(float(np.percentile(scores, 10)), 4),
                "median": round(float(np.median(scores)), 4),
                "p90": round(float(np.percentile(scores, 90)), 4),
            }
            if n
            else {}
        ),
        "by_source": _strong_share_by(rows, "source_dataset"),
        "by_question_type": _strong_share_by(rows, "question_type"),
        "models": per_model,
        "silence_agreement": agreement,
    }
