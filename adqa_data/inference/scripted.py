"""A model-free backend that writes plausible think-style replies: stage logic without a model.

`generate` answers every query with `sampling.n` replies drawn from a fixed menu of shapes a real policy
produces early in GRPO — a well-formed `<think>…</think><answer>X</answer>` reply that is right or wrong,
a bare "The answer is X", an empty answer block, a reply naming two options, a reply that loops until it
hits the token limit — with byte-level token ids and made-up log-probabilities. It exists so that the
rollout stage (shards, resume, rewards, advantages, Ray) can be exercised and demonstrated in
milliseconds: `adqa-data rollout --backend scripted`. It never sees a gold answer (a `Query` carries
none): each reply names a seeded random option, so about one in four is right, like a random policy.

Determinism: each query's replies depend only on (`sampling.seed`, `query.key`), never on the batch it
is in, which is the property the rollout stage requires of every backend. Its `anchoring_scorer` is
`ScriptedAnchoring`, which stands in for the transformers anchoring pass with numbers in [0, 1] seeded
by the completion itself.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..mcq.prompt_styles import get_style
from ..rewards.anchoring import PROFILE_BINS
from .types import LETTERS, AnchoringScorer, Completion, Generation, LetterScores, Query, Sampling

_REASONS = [
    "The recording has a steady tone with little variation, which matches one of the options.",
    "I hear a short repeated pattern in the audio and a faint background hum.",
    "The loudest event happens near the start of the clip, so the option describing it fits best.",
    "The sound is low in pitch and continuous, which rules out the brief or high-pitched options.",
]


def _rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class ScriptedBackend:
    """See the module docstring. `latency_s`: sleep per query, to watch progress or kill a run midway."""

    latency_s: float = 0.0
    name: str = "scripted"
    sample_rate: int = 16000

    def generate(self, queries: list[Query], sampling: Sampling) -> list[Generation]:
        out = []
        for q in queries:
            if self.latency_s:
                time.sleep(self.latency_s)
            rng = _rng(sampling.seed, q.key)
            prompt = f"{q.question}\n" + "\n".join(f"{L}. {c}" for L, c in zip(LETTERS, q.choices))
            completions = [self._reply(rng, len(q.choices), sampling) for _ in range(sampling.n)]
            out.append(Generation(q.key, list(prompt.encode()), completions))
        return out

    def _reply(self, rng: np.random.Generator, n_choices: int, sampling: Sampling) -> Completion:
        letter = LETTERS[int(rng.integers(n_choices))]
        other = LETTERS[(LETTERS.index(letter) + 1) % n_choices]
        reason = _REASONS[int(rng.integers(len(_REASONS)))]
        shape = rng.choice(["template", "template", "template", "bare", "empty", "two", "loop"])
        finish = "stop"
        if shape == "template":
            text = f"<think>{reason}</think><answer>{letter}</answer>"
        elif shape == "bare":
            text = f"{reason} The answer is {letter}."
        elif shape == "empty":
            text = f"<think>{reason}</think><answer></answer>"
        elif shape == "two":
            text = f"<think>{reason}</think><answer>{letter} or {other}</answer>"
        else:
            text = "<think>" + "the sound repeats and " * 40
            finish = "length"
        ids = list(text.encode())
        if len(ids) > sampling.max_new_tokens:
            ids, finish = ids[: sampling.max_new_tokens], "length"
            text = bytes(ids).decode(errors="ignore")
        logprobs = (
            (-rng.exponential(0.7, size=len(ids))).astype(np.float32).tolist() if sampling.logprobs else None
        )
        return Completion(ids, text, logprobs, finish)

    def score_letters(self, queries: list[Query]) -> list[LetterScores]:
        """Uniform letters, and a mass in [0.5, 1) seeded by the query key (a model that mostly puts a
        letter where it is read)."""
        return [
            LetterScores(
                np.full(len(q.choices), 1.0 / len(q.choices)), float(_rng(1, q.key).uniform(0.5, 1.0))
            )
            for q in queries
        ]

    def score_options(self, queries: list[Query]) -> list[np.ndarray]:
        return [np.full(len(q.choices), 1.0 / len(q.choices)) for q in queries]

    def prompt_text(self, query: Query) -> str:
        """The prompt style's user text (there is no chat format without a model)."""
        return get_style(query.prompt_style).render(query.question, query.choices)

    def anchoring_scorer(
        self, layers: Any = "deep", config: Any = None, batch_size: int = 4
    ) -> ScriptedAnchoring:
        return ScriptedAnchoring()

    def close(self) -> None:
        pass


class ScriptedAnchoring(AnchoringScorer):
    """Stand-in for `anchoring_pass.AnchoringPass`: a score in [0.2, 0.9] per completion, a pure
    function of the query key and the completion's token ids."""

    def components(
        self, query: Query, prompt_token_ids: Sequence[int], completions: Sequence[Sequence[int]]
    ) -> list[dict[str, Any]]:
        """The score, and a profile that puts the score's mass on one bump along the clip."""
        out = []
        for c in completions:
            rng = _rng(0, f"{query.key}\0{list(c)}")
            score = float(rng.uniform(0.2, 0.9))
            bump = np.exp(-0.5 * ((np.arange(PROFILE_BINS) - rng.uniform(0, PROFILE_BINS)) / 4.0) ** 2)
            out.append({"score": score, "profile": [float(x) for x in score * bump / bump.sum()]})
        return out

    def close(self) -> None:
        pass
