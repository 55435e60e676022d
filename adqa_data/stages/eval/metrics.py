"""The numbers `adqa-data eval` reports, as pure functions over plain records (no I/O, no model).

Kept apart from the stage so that each figure is defined once and tested on planted predictions:

- top-1 accuracy (the DCASE 2026 Task 5 metric): an item counts as correct when its answer, after the
  self-consistency vote, is the gold option; an output the parser could not credit counts as wrong.
  Items without a gold answer (evaluation sets) are left out of every accuracy, never counted as wrong.
- the same per group (question type, source corpus, DCASE dev part);
- the audio-dependency gap: accuracy with the clip minus accuracy with the clip replaced by silence,
  over the items answered under both conditions (overall and per group). A model that listens loses
  accuracy under silence; a gap near 0 means it answers from the text;
- the predicted-letter distribution against the gold letters (position bias: a model that says "A"
  40% of the time on a set whose gold letters are uniform is biased);
- the share of outputs the parser credited nothing, by reason (`answers.NoCredit`).

Self-consistency vote (`majority_vote`): the option named by most credited samples wins; a tie is
broken by the sample order, i.e. the tied option whose first credited sample comes first wins. With one
sample the vote is that sample's answer. Samples that credit nothing do not vote; when none credits
anything the vote is empty and carries the most common refusal reason (ties: the first to occur).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...mcq.answers import LETTERS

NONE = "none"  # the letter bucket of answers the parser did not credit
UNKNOWN = "(none)"  # the group of items without a value for the grouping key


@dataclass(frozen=True)
class Vote:
    index: int | None  # the winning option; None when no sample was credited
    count: int  # samples that named it
    reason: str | None = None  # when index is None: the most common NoCredit reason


def majority_vote(indices: Sequence[int | None], reasons: Sequence[str | None] | None = None) -> Vote:
    """The self-consistency answer of one item's samples (rule: module docstring)."""
    credited = [i for i in indices if i is not None]
    if not credited:
        why = [r for r in (reasons or []) if r]
        return Vote(None, 0, _most_common_first(why) if why else None)
    return Vote(_most_common_first(credited), Counter(credited)[_most_common_first(credited)])


def _most_common_first(values: Sequence[Any]) -> Any:
    """The most frequent value; among equally frequent ones, the one that occurs first."""
    counts = Counter(values)
    top = max(counts.values())
    return next(v for v in values if counts[v] == top)


@dataclass(frozen=True)
class Outcome:
    """One item's voted answer under one condition, with what it is grouped by."""

    item_id: str
    condition: str
    predicted: int | None
    gold: int | None  # None: withheld
    n_choices: int
    question_type: str | None = None
    source: str | None = None
    part: str | None = None

    @property
    def correct(self) -> bool | None:
        return None if self.gold is None else self.predicted == self.gold


GROUPS: dict[str, Callable[[Outcome], str | None]] = {
    "question_type": lambda o: o.question_type,
    "source": lambda o: o.source,
    "part": lambda o: o.part,
}


def accuracy(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """{"n": graded items, "correct": k, "accuracy": k / n (None when n == 0)}."""
    graded = [o.correct for o in outcomes if o.correct is not None]
    n, k = len(graded), sum(graded)
    return {"n": n, "correct": k, "accuracy": k / n if n else None}


def accuracy_by(
    outcomes: Iterable[Outcome], key: Callable[[Outcome], str | None]
) -> dict[str, dict[str, Any]]:
    """`accuracy` per group, groups in name order; items without a value form the group "(none)"."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o) or UNKNOWN, []).append(o)
    return {g: accuracy(groups[g]) for g in sorted(groups)}


def _gap(audio: Mapping[str, Outcome], silence: Mapping[str, Outcome], ids: Iterable[str]) -> dict[str, Any]:
    ids = [i for i in ids if audio[i].gold is not None]
    a = accuracy(audio[i] for i in ids)["accuracy"]
    s = accuracy(silence[i] for i in ids)["accuracy"]
    return {"n": len(ids), "audio": a, "silence": s, "gap": None if a is None or s is None else a - s}


def audio_gap(audio: Iterable[Outcome], silence: Iterable[Outcome]) -> dict[str, Any]:
    """Accuracy with audio minus without, over the graded items present under both conditions:
    {"overall": {n, audio, silence, gap}, "by_<group>": {group: {...}}}."""
    a = {o.item_id: o for o in audio}
    s = {o.item_id: o for o in silence}
    both = sorted(a.keys() & s.keys())
    out: dict[str, Any] = {"overall": _gap(a, s, both)}
    for name, key in GROUPS.items():
        groups: dict[str, list[str]] = {}
        for i in both:
            groups.setdefault(key(a[i]) or UNKNOWN, []).append(i)
        out[f"by_{name}"] = {g: _gap(a, s, groups[g]) for g in sorted(groups)}
    return out


def letter_distribution(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    """Counts of predicted letters ("none" = not credited) and of gold letters (graded items only);
    letters up to the largest option count seen, each present even when 0."""
    outcomes = list(outcomes)
    width = max((o.n_choices for o in outcomes), default=0)
    predicted = {L: 0 for L in LETTERS[:width]} | {NONE: 0}
    gold = {L: 0 for L in LETTERS[:width]}
    for o in outcomes:
        predicted[NONE if o.predicted is None else LETTERS[o.predicted]] += 1
        if o.gold is not None:
            gold[LETTERS[o.gold]] += 1
    return {"predicted": predicted, "gold": gold}


def confusion(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """Gold letter (rows) against predicted letter (columns, "none" = not credited) over graded items:
    {"gold": letters, "predicted": letters + ["none"], "counts": [[int]]}; letters up to the largest
    option count seen."""
    graded = [o for o in outcomes if o.gold is not None]
    width = max((o.n_choices for o in graded), default=0)
    gold, predicted = list(LETTERS[:width]), [*LETTERS[:width], NONE]
    counts = [[0] * len(predicted) for _ in gold]
    for o in graded:
        counts[o.gold][width if o.predicted is None else o.predicted] += 1  # type: ignore[index]
    return {"gold": gold, "predicted": predicted, "counts": counts}


def no_credit(parse_reasons: Sequence[str | None], credited: Sequence[bool]) -> dict[str, Any]:
    """Over raw outputs: how many the parser credited nothing, and why (shares of all outputs)."""
    reasons = [r or "unknown" for r, ok in zip(parse_reasons, credited, strict=True) if not ok]
    total = len(credited)
    by = Counter(reasons)
    return {
        "outputs": total,
        "not_credited": len(reasons),
        "share": len(reasons) / total if total else None,
        "by_reason": {r: {"count": c, "share": c / total} for r, c in sorted(by.items())},
    }


def condition_report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Everything reported for one condition's voted answers."""
    report = {"items": len(outcomes), **accuracy(outcomes)}
    for name, key in GROUPS.items():
        report[f"by_{name}"] = accuracy_by(outcomes, key)
    report["letters"] = letter_distribution(outcomes)
    return report
