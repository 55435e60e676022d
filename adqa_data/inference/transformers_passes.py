"""The prompt passes of the transformers backend: queries tokenized into rows, rows packed into
batches, the shared [system + clip] prefix run once and kept, and the headless decoder run over a batch.

`TransformersBackend` inherits these building blocks; they are public so a benchmark can time each
piece on exactly the backend's passes. How a pass is laid out (right padding, explicit position ids,
the 2-D mask of continuations) is described in `transformers_backend`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.errors import UserError
from ..mcq.prompt_styles import PromptStyle, get_style
from . import shared_prefix
from .letter_position import LetterReading, after_user, letter_prefix, read_letters
from .types import Query

if TYPE_CHECKING:  # pragma: no cover
    from .adapters import ModelAdapter
    from .adapters.base import LoadedModel


@dataclass
class PreparedRow:
    """One query, tokenized: `prefix_ids` holds the expanded audio placeholder."""

    index: int
    query: Query
    style: PromptStyle
    prefix_ids: list[int]
    suffix_ids: list[int]
    shared: tuple | None = None  # key of the shared prefix state, None = plain path

    @property
    def prompt_ids(self) -> list[int]:
        return self.prefix_ids + self.suffix_ids


@dataclass
class PrefixState:
    """[system + clip] run once: its per-layer keys and values (batch 1) and length."""

    kv: list[tuple]  # (keys, values) per layer, each [1, kv_heads, P, head_dim]
    length: int


@dataclass
class Pass:
    """The result of running prompts: what a continuation needs to go on from there."""

    last_hidden: object  # [B, H] hidden state at each row's last real token
    cache: object  # DynamicCache over the rows' own tokens (and the copied prefix in "copy" mode)
    mask: object  # [B, K] over the cache's tokens, 1 = real token
    n_real: object  # [B] real tokens so far, prefix included (the next position id)
    prefix: list | None = None  # the shared prefix's (keys, values) per layer, batch 1 ("prefix" mode)


class PromptPasses:
    """Preparation and prompt passes over `self.model` (a `LoadedModel`) and `self.adapter`; the
    backend sets the batch budgets, the prefix-state cache and the statistics these read."""

    adapter: ModelAdapter
    model: LoadedModel
    max_batch_tokens: int
    max_batch_rows: int
    max_prefix_states: int
    shared_attention: str
    reply_opening: str | None
    pad_id: int
    stats: dict[str, int]
    _prefix_states: OrderedDict[tuple, PrefixState]
    _readings: dict[tuple, LetterReading]

    # ======================================================== preparation and passes (public parts)
    # `prepare`, `batches`, `prefix_state`, `new_cache` and `decode` are the building blocks of every
    # call above; they are public so a benchmark can time each piece on exactly the backend's passes.
    def prepare(self, queries: list[Query]) -> list[PreparedRow]:
        """Tokenize each query's two parts; group queries with equal audio_id and prefix text."""
        rows: list[PreparedRow] = []
        groups: dict[tuple, list[PreparedRow]] = {}
        for i, q in enumerate(queries):
            style = get_style(q.prompt_style)
            parts = self.adapter.prompt_parts(q, style)
            clip = self.model.clip(q)
            n_audio = self.model.clip_token_count(clip) if clip is not None else None
            pre, suf = self.model.prompt_token_ids(q, style)
            row = PreparedRow(i, q, style, pre, suf)
            rows.append(row)
            if clip is not None and self._split_is_exact(parts.prefix, parts.suffix):
                key = (q.audio_id, parts.prefix, n_audio)
                groups.setdefault(key, []).append(row)
        for key, members in groups.items():
            if len(members) > 1 or key in self._prefix_states:
                for r in members:
                    r.shared = key
        return rows

    def _split_is_exact(self, prefix: str, suffix: str) -> bool:
        """The prefix/suffix split must not change tokenization (it is made after a special token; this
        checks it, with the placeholder unexpanded, which is cheap)."""
        tok = self.model.tokenizer
        a = tok(prefix, add_special_tokens=False).input_ids
        b = tok(suffix, add_special_tokens=False).input_ids
        return a + b == tok(prefix + suffix, add_special_tokens=False).input_ids

    def prepare_letters(self, queries: list[Query]) -> tuple[list[PreparedRow], list[LetterReading]]:
        """`prepare` for letters mode: each row's suffix ends with its prefill, and how its letters are
        read after it (`letter_position`)."""
        rows = self.prepare(queries)
        readings = [self._letter_reading(r) for r in rows]
        for r, rd in zip(rows, readings):
            r.suffix_ids = r.suffix_ids + list(rd.prefill_ids)
        return rows, readings

    def _letter_reading(self, row: PreparedRow) -> LetterReading:
        """The prefill and letter ids of one row, from the prompt's end after its last special token
        (the only part a prefill or a letter can merge with), cached per end."""
        q, st = row.query, row.style
        prompt = self.adapter.build_prompt(q, st)
        prefix = letter_prefix(
            st, self.reply_opening, after_user(prompt, st.render(q.question, q.choices)), who=f"query {q.key}"
        )
        tok = self.model.tokenizer
        special = set(tok.added_tokens_decoder)
        cut = max((i + 1 for i, t in enumerate(row.suffix_ids) if t in special), default=0)
        tail = row.suffix_ids[cut:]
        key = (tuple(tail), prefix, len(q.choices))
        if key not in self._readings:
            self._readings[key] = read_letters(
                lambda s: tok(s, add_special_tokens=False).input_ids,
                tok.decode,
                tail,
                prefix,
                len(q.choices),
                f"prompt style {st.name!r}",
            )
        return self._readings[key]

    def _continuations(self, row: PreparedRow) -> list[list[int]]:
        """Token ids of each option's reply, as they tokenize after this prompt."""
        tok = self.model.tokenizer
        base = tok.decode(row.suffix_ids)
        conts = []
        for i in range(len(row.query.choices)):
            text = row.style.option_reply_text(i, row.query.choices)
            joined = tok(base + text, add_special_tokens=False).input_ids
            if joined[: len(row.suffix_ids)] != row.suffix_ids or len(joined) == len(row.suffix_ids):
                raise UserError(
                    f"option reply {text!r} merges with the end of the prompt under this tokenizer",
                    where=f"prompt style {row.style.name!r}",
                )
            conts.append(joined[len(row.suffix_ids) :])
        return conts

    def batches(self, rows: list[PreparedRow], max_rows: int | None = None):
        """Shared-path rows (grouped by prefix) and plain rows, longest first, packed by tokens: as few
        passes as the budget allows, then the rows spread evenly over them (64 rows at a 57-row budget
        make two passes of 32, not 57 + 7)."""
        max_rows = max_rows or self.max_batch_rows
        by_kind: dict[tuple | None, list[PreparedRow]] = {}
        for r in rows:
            by_kind.setdefault(r.shared, []).append(r)
        for key, members in by_kind.items():
            length = (lambda r: len(r.suffix_ids)) if key is not None else (lambda r: len(r.prompt_ids))
            members = sorted(members, key=length, reverse=True)
            n_passes, start = 0, 0
            while start < len(members):  # greedy count of passes under the budget
                width, take = length(members[start]), 1
                while (
                    start + take < len(members)
                    and take < max_rows
                    and width * (take + 1) <= self.max_batch_tokens
                ):
                    take += 1
                start, n_passes = start + take, n_passes + 1
            size, extra = divmod(len(members), n_passes)
            start = 0
            for i in range(n_passes):
                end = start + size + (1 if i < extra else 0)
                yield members[start:end]
                start = end

    # ============================================================================ model passes
    def decode(self, embeds, mask, positions, cache, prefix: list | None = None):
        """The headless decoder: embeddings in, hidden states out; `cache` grows in place. With `prefix`,
        attention also covers that shared prefix (not in `cache`, not in `mask`)."""
        self.stats["passes"] += 1
        dec = self.model.decoder
        if prefix is None:
            return dec(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            )
        with shared_prefix.enabled(dec.config):  # transformers builds no mask for it: the mask goes along
            return dec(
                inputs_embeds=embeds,
                attention_mask=None,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                adqa_prefix=prefix,
                adqa_mask=mask,
            )

    def new_cache(self, kv: list[tuple] | None = None):
        from transformers import DynamicCache

        cfg = self.model.decoder.config
        return DynamicCache(ddp_cache_data=kv, config=cfg) if kv else DynamicCache(config=cfg)

    def _repeat_cache(self, cache, repeats):
        """A new cache whose row b holds `repeats[b]` copies of row b of `cache`."""
        return self.new_cache(
            [
                (layer.keys.repeat_interleave(repeats, 0), layer.values.repeat_interleave(repeats, 0))
                for layer in cache.layers
            ]
        )

    def prefix_state(self, row: PreparedRow) -> PrefixState:
        """[system + clip] of a shared group, computed once and kept (LRU) across calls."""
        import torch

        key = row.shared
        if key in self._prefix_states:
            self._prefix_states.move_to_end(key)
            return self._prefix_states[key]
        ids = torch.tensor([row.prefix_ids], device=self.model.device)
        with torch.no_grad():
            emb = self._embed_with_audio(ids, [self.model.clip(row.query)])
            cache = self.new_cache()
            self.decode(emb, None, torch.arange(ids.shape[1], device=self.model.device)[None], cache)
        state = PrefixState([(layer.keys, layer.values) for layer in cache.layers], ids.shape[1])
        self.stats["prefix_passes"] += 1
        self._prefix_states[key] = state
        while len(self._prefix_states) > self.max_prefix_states:
            self._prefix_states.popitem(last=False)
        return state

    def _embed_with_audio(self, ids, clips: list):
        """Token embeddings with each row's audio embeddings written at its placeholder positions."""
        return self.model.embed_with_audio(ids, clips)

    def _prompt_pass(self, batch: list[PreparedRow]) -> Pass:
        """Run the prompts of one batch (all shared with one prefix, or all plain)."""
        import torch

        dev = self.model.device
        shared = batch[0].shared
        segs = [r.suffix_ids for r in batch] if shared is not None else [r.prompt_ids for r in batch]
        B, S = len(batch), max(len(s) for s in segs)
        ids = torch.full((B, S), self.pad_id, dtype=torch.long, device=dev)
        real = torch.zeros((B, S), dtype=torch.long, device=dev)
        for i, s in enumerate(segs):
            ids[i, : len(s)] = torch.tensor(s)
            real[i, : len(s)] = 1
        n_seg = real.sum(1)
        with torch.no_grad():
            prefix = None
            if shared is not None:
                st = self.prefix_state(batch[0])
                if self.shared_attention == "prefix":
                    cache, mask, prefix = self.new_cache(), real, st.kv
                else:
                    cache = self.new_cache(
                        [(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in st.kv]
                    )
                    mask = torch.cat([torch.ones((B, st.length), dtype=torch.long, device=dev), real], 1)
                start = torch.full((B,), st.length, device=dev)
                emb = self.model.embed(ids)
                self.stats["shared_rows"] += B
            else:
                cache = self.new_cache()
                mask = real
                start = torch.zeros(B, dtype=torch.long, device=dev)
                emb = self._embed_with_audio(ids, [self.model.clip(r.query) for r in batch])
                self.stats["plain_rows"] += B
            pos = start[:, None] + torch.arange(S, device=dev)[None]
            # no padding before any real token (past fully real, segment right-padded), so the causal
            # mask alone is exact here and the kernels skip a padding mask; `mask` is kept for what follows
            h = self.decode(emb, None, pos, cache, prefix).last_hidden_state
            last = h[torch.arange(B, device=dev), n_seg - 1]
        return Pass(last_hidden=last, cache=cache, mask=mask, n_real=start + n_seg, prefix=prefix)
