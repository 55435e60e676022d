"""Asking a backend multiple-choice questions in one of three modes, with probabilities per shown option.

The filter stage votes with it and an evaluation reuses it, so "the model's answer" means the same
thing in both:
- `letters`: P(letter) over the shown letters where the reply names its option (one forward), and the
  mass the letters held there before renormalising (`Answer.letter_mass`);
- `options`: softmax over each option's length-normalised log-likelihood as the reply;
- `generate`: greedy, one completion, parsed by `answers.parse_answer`; the probabilities are one-hot
  on the credited option, None when nothing is credited (counted as a wrong answer).

`sample_answers` is the generate mode with any sampling (several completions per query, each parsed):
eval's self-consistency draws through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mcq.answers import ParsedAnswer, parse_answer
from .types import Backend, Query, Sampling

MODES = ("letters", "options", "generate")


@dataclass
class Answer:
    probs: np.ndarray | None  # in the shown option order
    raw_text: str | None = None  # generate mode: the reply
    parse_layer: str | None = None  # generate mode: how it was parsed, or why not
    # letters mode: the total probability the shown letters held at the read position over the full
    # vocabulary, before renormalising (None in options and generate mode)
    letter_mass: float | None = None


@dataclass
class SampledAnswer:
    text: str  # the completion, verbatim
    finish_reason: str  # stop | length
    parsed: ParsedAnswer  # in the shown option order


def sample_answers(backend: Backend, queries: list[Query], sampling: Sampling) -> list[list[SampledAnswer]]:
    """Per query, its `sampling.n` completions, each parsed by the layered parser; checked whole."""
    gens = backend.generate(queries, sampling)
    if len(gens) != len(queries):
        raise RuntimeError(f"backend returned {len(gens)} generations for {len(queries)} queries")
    out = []
    for q, g in zip(queries, gens):
        if g.key != q.key or len(g.completions) != sampling.n:
            raise RuntimeError(
                f"backend returned {len(g.completions)} completions for {q.key} (key {g.key}), "
                f"expected {sampling.n}"
            )
        out.append(
            [SampledAnswer(c.text, c.finish_reason, parse_answer(c.text, q.choices)) for c in g.completions]
        )
    return out


def ask(
    backend: Backend, mode: str, queries: list[Query], max_new_tokens: int = 256, seed: int = 0
) -> list[Answer]:
    """One `Answer` per query, checked: one finite probability per shown option (or None)."""
    if mode == "letters":
        answers = [
            Answer(np.asarray(s.probs, dtype=np.float64), letter_mass=float(s.mass))
            for s in backend.score_letters(queries)
        ]
    elif mode == "options":
        answers = [Answer(np.asarray(p, dtype=np.float64)) for p in backend.score_options(queries)]
    elif mode == "generate":
        sampling = Sampling(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed, logprobs=False)
        answers = []
        for q, (first,) in zip(queries, sample_answers(backend, queries, sampling)):
            parsed = first.parsed
            probs = None
            if parsed.index is not None:
                probs = np.zeros(len(q.choices))
                probs[parsed.index] = 1.0
            answers.append(Answer(probs, first.text, parsed.layer or parsed.reason))
    else:
        raise ValueError(f"unknown answer mode {mode!r}; use one of {MODES}")
    if len(answers) != len(queries):
        raise RuntimeError(f"backend returned {len(answers)} answers for {len(queries)} queries")
    for q, a in zip(queries, answers):
        if a.probs is not None and (a.probs.shape != (len(q.choices),) or not np.all(np.isfinite(a.probs))):
            raise RuntimeError(
                f"backend {backend.name} returned {a.probs!r} for query {q.key} with {len(q.choices)} options"
            )
        if a.letter_mass is not None and not 0.0 <= a.letter_mass <= 1.0 + 1e-6:  # NaN fails too
            raise RuntimeError(
                f"backend {backend.name} returned letter mass {a.letter_mass} for query {q.key}"
            )
    return answers
