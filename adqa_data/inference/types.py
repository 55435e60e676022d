"""What a stage may ask a model, and the one result format every backend (transformers, vLLM,
scripted) returns.

Stages (filter, rollout, eval) build `Query` objects and talk to a backend only through the `Backend`
protocol below — never its adapter, tokenizer or loaded model — so the same stage code runs on every
backend and the outputs are comparable row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..mcq.answers import LETTERS  # noqa: F401  (re-exported: backends name options by letter)

if TYPE_CHECKING:  # pragma: no cover
    from ..rewards.anchoring import AnchoringConfig


@dataclass
class Query:
    """One question put to a model.

    `choices` are in the order shown to the model (a stage that permutes options permutes them here and
    maps the answers back). The clip is given the way the backend consumes it (`factory.backend_input`):
    `audio`, mono float32 at the backend's sample rate, or `codes`, the clip's RVQ codes
    `[num_codebooks, frames]` from the code cache (MiMo-Audio reads these and never a waveform); both
    None for a text-only prompt. Queries whose `audio_id` is equal carry identical audio: a backend may
    share the encoded audio and the KV cache of the prompt prefix between them (the silent condition).
    """

    key: str
    question: str
    choices: list[str]
    audio: np.ndarray | None
    audio_id: str
    prompt_style: str = (
        "letters"  # a name from adqa_data.mcq.prompt_styles (letters | audiomcq | think | ...)
    )
    codes: np.ndarray | None = None  # [num_codebooks, frames], for a backend that consumes codes


@dataclass
class LetterScores:
    """What letters mode reads at the position where the reply names its option (one forward).

    `probs`: P(letter) over the shown options' letters, renormalised to sum to 1 (shape
    [len(choices)], in the shown order). `mass`: the total probability those letters held over the
    full vocabulary before renormalising, in (0, 1]: a low mass means the model wanted to write
    something else there, so the renormalised choice is read off-distribution."""

    probs: np.ndarray
    mass: float


@dataclass
class Sampling:
    n: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0
    logprobs: bool = True  # the sampling policy's per-token log-probabilities

    @classmethod
    def of(cls, settings: SamplingSettings, *, n: int, temperature: float, logprobs: bool) -> Sampling:
        """A stage's sampling: `n` and `temperature` as the stage counts them (rollout's K, eval's
        samples and effective temperature), nucleus, length and seed from its settings."""
        return cls(
            n=n,
            temperature=temperature,
            top_p=settings.top_p,
            max_new_tokens=settings.max_new_tokens,
            seed=settings.seed,
            logprobs=logprobs,
        )


class SamplingSettings(Protocol):
    """The sampling settings a generating stage's config declares (eval, rollout)."""

    top_p: float
    max_new_tokens: int
    seed: int


@dataclass
class Completion:
    token_ids: list[int]
    text: str
    logprobs: list[float] | None  # one per token in token_ids
    finish_reason: str  # "stop" | "length"


@dataclass
class Generation:
    key: str
    prompt_token_ids: list[int]
    completions: list[Completion] = field(default_factory=list)


class AnchoringScorer(Protocol):
    """Scores completions by how much their reasoning attends to the audio (the anchoring reward).

    A scorer implements `components` and `close`; `scores` is read off `components` here, so a scorer
    that subclasses this protocol gets it (the pass and its scripted stand-in do)."""

    def scores(
        self, query: Query, prompt_token_ids: Sequence[int], completions: Sequence[Sequence[int]]
    ) -> list[float]:
        """The anchoring score in [0, 1] of each completion (token ids, as sampled after
        `prompt_token_ids`) of `query`."""
        return [d["score"] for d in self.components(query, prompt_token_ids, completions)]

    def components(
        self, query: Query, prompt_token_ids: Sequence[int], completions: Sequence[Sequence[int]]
    ) -> list[dict[str, Any]]:
        """Per completion a dict with at least `score` (as `scores`) and `profile`: the scored rows'
        attention along the clip (`rewards.anchoring.attention_profile`), None when no row was scored."""
        ...

    def close(self) -> None:
        """Release what the scorer loaded for itself (nothing when it shares the backend's model)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """What filter, rollout and eval may ask of a model server, and nothing else."""

    name: str
    sample_rate: int  # the rate `Query.audio` must be given at (the model's audio front end)

    def prompt_text(self, query: Query) -> str:
        """The chat-formatted prompt as the model sees it (one audio placeholder per clip, unexpanded),
        ending where the reply begins."""
        ...

    def anchoring_scorer(
        self, layers: Any = "deep", config: AnchoringConfig | None = None, batch_size: int = 4
    ) -> AnchoringScorer | None:
        """A scorer running the anchoring pass on this backend's own loaded model, or None when the
        backend has no attention to read (vLLM): the caller then loads a transformers pass beside it.
        `layers`: the decoder layers whose attention is averaged ("deep" = the last quarter)."""
        ...

    def score_letters(self, queries: list[Query]) -> list[LetterScores]:
        """Per query, the probability of each shown option's letter at the answer position,
        renormalised over the options, and the mass the letters held before that (`LetterScores`).
        One forward, no generation."""
        ...

    def score_options(self, queries: list[Query]) -> list[np.ndarray]:
        """Per query, a softmax over the length-normalised log-likelihood of each option's text as
        the answer (shape [len(choices)])."""
        ...

    def generate(self, queries: list[Query], sampling: Sampling) -> list[Generation]:
        """Per query, `sampling.n` completions with token ids, text, log-probs and finish reason.

        A query's completions depend only on the query, `sampling` and `query.key` (derive each query's
        generator from (`sampling.seed`, `query.key`)), never on the batch or its order: rollout shards
        are resumed and redistributed (Ray) on that guarantee."""
        ...

    def close(self) -> None:
        """Release the model and its memory (a panel loads one model at a time)."""
        ...
