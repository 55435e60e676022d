"""Asking a backend multiple-choice questions in one of three modes, with probabilities per shown option.

The filter stage votes with it and an evaluation reuses it, so "the model's answer" means the same
thing in both:
- `letters`: P(letter) at the first reply token over the shown letters (one forward);
- `options`: softmax over each option's length-normalised log-likelihood as the reply;
- `generate`: greedy, one completion, parsed by `answers.parse_answer`; the probabilities are one-hot
  on the credited option, None when nothing is credited (counted as a wrong answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..answers import parse_answer
from .types import Backend, Query, Sampling

MODES = ("letters", "options", "generate")


@dataclass
class Answer:
    probs: np.ndarray | None  # in the shown option order
    raw_text: str | None = None  # generate mode: the reply
    parse_layer: str | None = None  # generate mode: how it was parsed, or why not


def ask(backend: Backend, mode: str, queries: list[Query], max_new_tokens: int = 256, seed: int = 0) -> list[Answer]:
    """One `Answer` per query, checked: one finite probability per shown option (or None)."""
    if mode == "letters":
        answers = [Answer(np.asarray(p, dtype=np.float64)) for p in backend.score_letters(queries)]
    elif mode == "options":
        answers = [Answer(np.asarray(p, dtype=np.float64)) for p in backend.score_options(queries)]
    elif mode == "generate":
        sampling = Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed, logprobs=False)
        answers = []
        for q, g in zip(queries, backend.generate(queries, sampling)):
            text = g.completions[0].text if g.completions else ""
            parsed = parse_answer(text, q.choices)
            probs = None
            if parsed.index is not None:
                probs = np.zeros(len(q.choices))
                probs[parsed.index] = 1.0
            answers.append(Answer(probs, text, parsed.layer or parsed.reason))
    else:
        raise ValueError(f"unknown answer mode {mode!r}; use one of {MODES}")
    if len(answers) != len(queries):
        raise RuntimeError(f"backend returned {len(answers)} answers for {len(queries)} queries")
    for q, a in zip(queries, answers):
        if a.probs is not None and (a.probs.shape != (len(q.choices),) or not np.all(np.isfinite(a.probs))):
            raise RuntimeError(f"backend {backend.name} returned {a.probs!r} for query {q.key} "
                               f"with {len(q.choices)} options")
    return answers
