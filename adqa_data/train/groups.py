"""What the trainer trains on: groups of one prompt and its completions, how they were sampled, and the
seeded order in which batches take them.

A group is one prompt and its K stored completions (token ids, the sampler's per-token log-probs, every
reward column, the advantage), or, for SFT, one gold reply. Nothing here reads a workspace: the rollout
stage's contract (`stages.rollout.contract`) turns a rollout set into groups and its provenance record
into a `SamplingInfo`; the train stage builds SFT groups from a split's gold answers (`sft_target`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.clips import AudioError, read_failure, read_item_audio
from ..inference.types import Query
from ..mcq.answers import LETTERS


@dataclass
class Completion:
    """One stored completion (or an SFT target: `token_ids` None, `text` tokenized at collation)."""

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None  # the sampler's, one per token, at its temperature and top-p
    advantage: float = 0.0
    reward: float = 0.0
    rewards: dict[str, float | None] = field(default_factory=dict)  # reward_<name> columns
    index: int = 0  # rollout_index within the group


@dataclass
class Group:
    """One prompt and its completions. The audio is an item's file (`audio_path` under the dataset root
    `audio_root`, as download recorded it), an array already at the model's sample rate (synthetic data),
    or the item's cached codes (a policy that reads codes); None for a text-only prompt."""

    group_id: str
    item_id: str
    question: str
    choices: list[str]
    prompt_style: str
    completions: list[Completion]
    audio_root: str | None = None  # the dataset root the item's audio_path is confined to
    audio_path: str | None = None  # relative to audio_root, as the item table has it
    audio_sha256: str | None = None
    audio: np.ndarray | None = None
    codes: np.ndarray | None = None  # the clip's cached RVQ codes, for a model that reads codes (MiMo-Audio)
    prompt_token_ids: list[int] | None = None  # as the sampler stored them; None = nothing to check against
    zero_signal: bool = False
    prompt: str = ""  # the templated prompt text rollout stored (for completions tables)
    batch: str = ""  # the rollout shard it was rewarded in: the batch of scale="batch" advantages

    def query(self, audio: np.ndarray | None) -> Query:
        """The `Query` rollout put to the sampler for this group."""
        return Query(
            key=self.item_id,
            question=self.question,
            choices=list(self.choices),
            audio=audio,
            audio_id=self.audio_sha256 or self.item_id,
            prompt_style=self.prompt_style,
            codes=self.codes,
        )

    @property
    def audio_file(self) -> str | None:
        """The item's audio file (for messages); None without one."""
        if self.audio_path is None:
            return None
        return str(Path(self.audio_root or ".") / self.audio_path)

    def load_audio(self, sample_rate: int) -> np.ndarray | None:
        """The clip at `sample_rate`: the in-memory array, or the item's file through `read_item_audio`
        (inside the dataset root, the bytes download hashed)."""
        if self.audio is not None:
            return np.asarray(self.audio, dtype=np.float32)
        if self.audio_path is None:
            return None
        try:  # checked before the run (check_groups); a file changed since then stops it here
            return read_item_audio(
                self.audio_root or ".", self.audio_path, self.audio_sha256 or "", sample_rate
            )
        except AudioError as e:
            raise read_failure(e, f"group {self.group_id}", self.audio_file or "") from None


@dataclass(frozen=True)
class SamplingInfo:
    """How the stored completions were sampled, from the rollout sets' provenance records."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int | None = None
    policy: str | None = None  # the sampling model (path or hub id); None for the scripted backend
    family: str | None = None
    backend: str = "transformers"
    k: int | None = None
    advantage: Mapping[str, Any] = field(
        default_factory=dict
    )  # baseline, scale, min_spread, std, eps as rollout used
    codec_key: str | None = None  # the code index a codes-reading policy (MiMo-Audio) sampled from


def epoch_order(n: int, seed: int, epoch: int, salt: str = "") -> np.ndarray:
    """The order of `n` groups in one epoch: a permutation seeded by (seed, salt, epoch) alone, so a
    resumed run sees the same order."""
    digest = hashlib.sha256(f"{seed}\0{salt}\0{epoch}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(n)


def batch_groups(
    groups: Sequence[Group], batch_index: int, size: int, seed: int, salt: str = ""
) -> list[Group]:
    """Batch `batch_index` of `size` groups from the endless stream of seeded epochs over `groups`:
    every batch is full (an epoch's tail continues into the next epoch's order)."""
    n = len(groups)
    first, last = batch_index * size, (batch_index + 1) * size
    orders = {e: epoch_order(n, seed, e, salt) for e in range(first // n, (last - 1) // n + 1)}
    return [groups[int(orders[i // n][i % n])] for i in range(first, last)]


def sft_target(style: str, choices: Sequence[str], answer_index: int, cot: str | None) -> str:
    """The reply SFT teaches for one item, in the prompt style's answer format: the think style gets the
    chain-of-thought (or an empty think block) and the letter; letter-first styles the bare letter;
    other styles their option reply, else the letter in an answer block."""
    from ..mcq.prompt_styles import get_style

    st = get_style(style)
    letter = LETTERS[answer_index]
    if st.name == "think":
        return f"<think>{(cot or '').strip()}</think><answer>{letter}</answer>"
    if st.letter_first:
        return letter
    if st.option_reply is not None:
        return st.option_reply_text(answer_index, list(choices))
    return f"<answer>{letter}</answer>"
