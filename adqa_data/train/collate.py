"""Micro-batches that put each completion back in front of the model exactly as the sampler saw it.

`Collator` lays a micro-batch out one row per group: the prompt once, then the group's K completions one
after another, each attending to the prompt and to itself only (a 4-D mask), with position ids restarting
after the prompt for every completion. Each completion's log-probs are then exactly those of a separate
[prompt + completion] forward, but the prompt — the audio tokens above all, 750 for 30 s — runs once per
group instead of K times, and nothing is padded inside a row. The prompt is rebuilt with the model's
adapter (`LoadedModel.prompt_token_ids`, the call the transformers backend makes) and the clip is read as
rollout read it (`Group.load_audio`: confined to the dataset root and hashed against what download
recorded, at the adapter's rate), or taken from the group's cached codes for a policy that reads RVQ
codes; a rebuilt prompt that differs from the stored `prompt_token_ids` (another model family, another
tokenizer) is an error, not a silent mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import UserError
from .groups import Completion, Group

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..inference.adapters.base import LoadedModel


@dataclass
class Batch:
    """A micro-batch in the group layout (module docstring). R rows (groups), L tokens per row, N
    completions, T tokens of the longest completion."""

    input_ids: torch.Tensor  # [R, L]
    position_ids: torch.Tensor  # [R, L]
    allowed: torch.Tensor  # [R, L, L] bool: query i may attend to key j
    clips: list[np.ndarray]  # the clips of the rows that have audio, in row order
    pred_index: torch.Tensor  # [N, T] flat index into [R * L] of the state that predicts each token
    targets: torch.Tensor  # [N, T] completion token ids (0 where masked)
    mask: torch.Tensor  # [N, T] 1.0 for completion tokens
    sampler_logp: torch.Tensor | None  # [N, T] stored log-probs; None when a completion has none
    advantages: torch.Tensor  # [N]
    rewards: torch.Tensor  # [N]
    refs: list[tuple[Group, Completion]]  # which completion each of the N rows is
    prompt_lengths: list[int]  # per row
    audio_positions: torch.Tensor | None = None  # [R, L] bool: the prompts' placeholder tokens (not a
    # completion's: a sampled completion may contain the placeholder token, embedded as a plain token)
    audio_embeds: torch.Tensor | None = None  # filled once per step when the audio side is frozen

    @property
    def completion_tokens(self) -> int:
        return int(self.mask.sum())

    @property
    def tokens(self) -> int:
        return sum(self.prompt_lengths) + self.completion_tokens

    def to(self, device: Any) -> Batch:
        for name in (
            "input_ids",
            "position_ids",
            "allowed",
            "pred_index",
            "targets",
            "mask",
            "sampler_logp",
            "advantages",
            "rewards",
            "audio_positions",
            "audio_embeds",
        ):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.to(device))
        return self


@dataclass
class Collator:
    """Turns groups into `Batch`es for one loaded model: rebuilds (and checks) each prompt, loads each
    clip, tokenizes SFT targets. A group's prompt ids are built and checked once per run (the clip is
    read again each time: clips are large, prompt ids are not)."""

    model: LoadedModel
    check_prompts: bool = True
    _prompts: dict[str, list[int]] = field(default_factory=dict)

    def prompt(self, group: Group) -> tuple[list[int], np.ndarray | None]:
        codes = getattr(self.model.adapter, "consumes", "audio") == "codes"
        audio = group.codes if codes else group.load_audio(self.model.adapter.sample_rate)
        if codes and audio is None and (group.audio_path or group.audio is not None):
            raise UserError(
                f"group {group.group_id}: this model reads RVQ codes, and these rollouts carry audio",
                fix="train on rollouts sampled by this model (rollout --codec mimo-audio)",
            )
        if group.group_id in self._prompts:
            return self._prompts[group.group_id], audio
        query = group.query(None if codes else audio)
        prefix, suffix = self.model.prompt_token_ids(query)
        ids = prefix + suffix
        if group.prompt_token_ids is not None and group.prompt_token_ids != ids and not codes:
            # vLLM tokenizes the prompt whole, the transformers backend in two parts: both are the model's
            # own tokenization, and the stored one is what the sampler saw
            n_audio = self.model.audio_token_count(len(audio)) if audio is not None else None
            if group.prompt_token_ids == self.model.tokenize(self.model.adapter.build_prompt(query), n_audio):
                ids = list(group.prompt_token_ids)
        if self.check_prompts and group.prompt_token_ids is not None and group.prompt_token_ids != ids:
            raise UserError(
                f"group {group.group_id}: the prompt this model builds ({len(ids)} tokens) is not the one the "
                f"sampler stored ({len(group.prompt_token_ids)} tokens), so the stored completions would be scored "
                "after another prompt",
                fix="train the model family (and tokenizer) that sampled the rollouts, or roll out again with this "
                "model",
            )
        self._prompts[group.group_id] = ids
        return ids, audio

    def completion_ids(self, c: Completion) -> list[int]:
        if c.token_ids is None:  # an SFT target or a scripted reply: the text, then end of turn
            c.token_ids = self.model.tokenize(c.text) + [self.model.eos_token_ids[0]]
        return c.token_ids

    def __call__(self, groups: Sequence[Group]) -> Batch:
        import torch

        pad = self.model.tokenizer.pad_token_id
        pad = int(pad if pad is not None else self.model.eos_token_ids[0])
        rows, clips, prompt_lengths = [], [], []
        for g in groups:
            ids, audio = self.prompt(g)
            comps = [self.completion_ids(c) for c in g.completions]
            rows.append((ids, comps))
            prompt_lengths.append(len(ids))
            if audio is not None:
                clips.append(audio)
        R = len(rows)
        L = max(len(p) + sum(len(c) for c in cs) for p, cs in rows)
        N = sum(len(cs) for _, cs in rows)
        T = max(max((len(c) for c in cs), default=1) for _, cs in rows)
        T = max(T, 1)
        input_ids = torch.full((R, L), pad, dtype=torch.long)
        position_ids = torch.zeros((R, L), dtype=torch.long)
        segment = torch.full((R, L), -1, dtype=torch.long)  # -1 prompt, s >= 0 completion s, -2 padding
        audio_positions = torch.zeros((R, L), dtype=torch.bool)
        pred_index = torch.zeros((N, T), dtype=torch.long)
        targets = torch.zeros((N, T), dtype=torch.long)
        mask = torch.zeros((N, T))
        has_logp = all(c.logprobs is not None for g in groups for c in g.completions)
        sampler = torch.zeros((N, T)) if has_logp else None
        n = 0
        for r, (g, (p, comps)) in enumerate(zip(groups, rows)):
            P = len(p)
            input_ids[r, :P] = torch.tensor(p)
            position_ids[r, :P] = torch.arange(P)
            audio_positions[r, :P] = input_ids[r, :P] == self.model.audio_token_id
            start = P
            for s, (c, ids) in enumerate(zip(g.completions, comps)):
                m = len(ids)
                if m:
                    input_ids[r, start : start + m] = torch.tensor(ids)
                    position_ids[r, start : start + m] = torch.arange(P, P + m)
                    segment[r, start : start + m] = s
                    # token t of the completion is predicted by the state before it: the prompt's last
                    # state for t = 0, the completion's own state t - 1 after that
                    before = torch.cat([torch.tensor([P - 1]), torch.arange(start, start + m - 1)])
                    pred_index[n, :m] = r * L + before
                    targets[n, :m] = torch.tensor(ids)
                    mask[n, :m] = 1.0
                    if sampler is not None:
                        if len(c.logprobs) != m:  # type: ignore[arg-type]
                            raise UserError(
                                f"group {g.group_id}: completion {c.index} has {m} tokens but "
                                f"{len(c.logprobs)} log-probs"
                            )  # type: ignore[arg-type]
                        sampler[n, :m] = torch.tensor(c.logprobs, dtype=torch.float32)
                start += m
                n += 1
            segment[r, start:] = -2
        q = segment[:, :, None]
        k = segment[:, None, :]
        causal = torch.ones((L, L), dtype=torch.bool).tril()[None]
        # prompt keys are seen by every real token; a completion's keys only by itself; padding sees itself
        allowed = causal & ((k == -1) & (q != -2) | (q == k) & (q >= 0))
        allowed |= torch.eye(L, dtype=torch.bool)[None] & (q == -2)
        refs = [(g, c) for g in groups for c in g.completions]
        return Batch(
            input_ids=input_ids,
            position_ids=position_ids,
            allowed=allowed,
            clips=clips,
            pred_index=pred_index,
            targets=targets,
            mask=mask,
            sampler_logp=sampler,
            advantages=torch.tensor([c.advantage for _, c in refs], dtype=torch.float32),
            rewards=torch.tensor([c.reward for _, c in refs], dtype=torch.float32),
            refs=refs,
            prompt_lengths=prompt_lengths,
            audio_positions=audio_positions,
        )
