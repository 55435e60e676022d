"""A model-free backend whose answers the test plants, shared by the eval and submit tests."""

from __future__ import annotations

import numpy as np

from adqa_data.inference.types import Completion, Generation, LetterScores
from adqa_data.mcq.answers import LETTERS


class PlantedBackend:
    """Answers chosen by the test: `plan[(item_id, condition)]` is a list of replies, one per sample
    (cycled); items not planned answer the gold letter with audio and "A" under silence."""

    name = "planted"
    sample_rate = 16000

    def __init__(self, gold: dict[str, int], plan: dict[tuple[str, str], list[str]] | None = None):
        self.gold, self.plan, self.calls, self.closed = gold, plan or {}, 0, False
        self.fail_on_call: int | None = None

    def generate(self, queries, sampling):
        self.calls += 1
        if self.fail_on_call == self.calls:
            raise RuntimeError("simulated kill")
        out = []
        for q in queries:
            item, _, cond = q.key.rpartition("|")
            assert (cond == "silence") == (not np.any(q.audio)), "silence must be all zeros, audio not"
            replies = self.plan.get((item, cond)) or [
                f"<think>x</think><answer>{LETTERS[self.gold[item]] if cond == 'audio' else 'A'}</answer>"
            ]
            texts = [replies[s % len(replies)] for s in range(sampling.n)]
            out.append(Generation(q.key, [], [Completion([], t, None, "stop") for t in texts]))
        return out

    def score_letters(self, queries):
        out = []
        for q in queries:
            p = np.full(len(q.choices), 0.1)
            p[-1] = 0.7  # the last option: so the fallback is visible
            out.append(LetterScores(p / p.sum(), mass=0.8))
        return out

    def score_options(self, queries):
        return [s.probs for s in self.score_letters(queries)]

    def prompt_text(self, query):
        return query.question

    def close(self):
        self.closed = True
