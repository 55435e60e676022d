"""The transformers backend: batched letter scoring, option scoring and sampling on CPU or GPU.

One job, kept in one module (hence its length): running a transformers checkpoint behind the `Backend`
protocol, with the batching, shared prefix and headless decoding below.

Why it does not call `model(...)` or `model.generate(...)`:
- The silent condition puts the same [system + 30 s of silence] prefix (~800 tokens, 750 of them audio)
  before every question. Its audio encoding and KV cache are computed once per (model, audio_id, system
  prompt) and each batch of question suffixes (~100 tokens) runs against it; the prefix's keys and
  values are not copied per row (`shared_prefix.py`).
  On the issue's benchmark this is the difference between ~60 s and a few seconds for 64 items.
- A model's forward applies the LM head at every position; with a 150k vocabulary that is gigabytes per
  batch. Here the decoder runs headless and `lm_head` is applied only to the hidden states read.

How a pass is laid out: rows are right-padded and position ids are explicit and count only real
tokens, so a row's numbers do not depend on what it is batched with. A prompt pass needs no padding
mask (padding only trails real tokens, and causality already hides it); passes that continue after a
padded prompt (option replies, decoding) carry a 2-D mask over [cached part | new tokens] with zeros at
the padding. Each row starts with a real token, so no query row is ever fully masked. Rows with the
same shared prefix go through the shared path; queries whose audio is unique (or that share it with no
other query in the call) go through the plain path, the whole prompt at once.

Batches are packed by tokens (`max_batch_tokens`, ~5,000 per pass is already at the compute
limit on 2 CPU cores) and rows (`max_batch_rows`), longest first, and results come back in input order.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..completion_text import completion_text, control_ids
from ..errors import UserError, require
from ..prompt_styles import PromptStyle, get_style
from . import shared_prefix
from .adapters import ModelAdapter, adapter_for_checkpoint, get_adapter
from .adapters.base import LoadedModel
from .letter_position import LetterReading, after_user, declared_opening, letter_prefix, read_letters
from .types import Completion, Generation, LetterScores, Query, Sampling

if TYPE_CHECKING:  # pragma: no cover
    from ..rewards.anchoring import AnchoringConfig
    from .anchoring_pass import AnchoringPass


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
class _Pass:
    """The result of running prompts: what a continuation needs to go on from there."""

    last_hidden: object  # [B, H] hidden state at each row's last real token
    cache: object  # DynamicCache over the rows' own tokens (and the copied prefix in "copy" mode)
    mask: object  # [B, K] over the cache's tokens, 1 = real token
    n_real: object  # [B] real tokens so far, prefix included (the next position id)
    prefix: list | None = None  # the shared prefix's (keys, values) per layer, batch 1 ("prefix" mode)


class TransformersBackend:
    """The `Backend` protocol on transformers. One model per instance; `close()` frees it.

    `model`: a local checkpoint directory (or hub id when a hub is reachable); `family`: an adapter
    family, detected from config.json when omitted. `max_prefix_states`: how many shared [system +
    clip] caches to keep between calls (the silent clip is typically the only one).
    `shared_attention`: "prefix" keeps the shared prefix's KV once and attends to it from all rows at
    once (`shared_prefix.py`); "copy" copies it into every row's cache (plain transformers attention,
    kept as the reference the tests compare against). `loaded`: sample with a model the caller already
    holds (`model` then only names it); `close()` leaves that model alone. `reply_opens_with`: how this
    checkpoint's replies open (letter | answer_tag | think), when the adapter cannot know it
    (`letter_position`: letters mode prefills the reply up to the letter from it).
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        family: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        max_batch_tokens: int = 5000,
        max_batch_rows: int = 64,
        trust_remote_code: bool = False,
        max_prefix_states: int = 4,
        adapter: ModelAdapter | None = None,
        shared_attention: str = "prefix",
        loaded: LoadedModel | None = None,
        reply_opens_with: str | None = None,
    ):
        require("torch", "models", "the transformers backend")
        # a model the caller holds (online training samples with the trainer's weights)
        if loaded is not None:
            adapter = loaded.adapter
        elif adapter is None:
            p = Path(model)
            adapter = (
                adapter_for_checkpoint(p, family) if p.is_dir() else get_adapter(family or "generic", None)
            )
        self.adapter = adapter
        self._owns_model = loaded is None  # close() frees only a model this backend loaded
        self.model: LoadedModel = (
            loaded
            if loaded is not None
            else adapter.load_transformers(model, device, dtype, trust_remote_code)
        )
        self.max_batch_tokens = int(max_batch_tokens)
        self.max_batch_rows = int(max_batch_rows)
        self.max_prefix_states = int(max_prefix_states)
        if shared_attention not in ("prefix", "copy"):
            raise UserError(f"shared_attention must be 'prefix' or 'copy', not {shared_attention!r}")
        self.shared_attention = shared_attention
        self._prefix_states: OrderedDict[tuple, PrefixState] = OrderedDict()
        self.reply_opening = declared_opening(str(model), adapter.family, reply_opens_with)
        self._readings: dict[tuple, LetterReading] = {}
        tok = self.model.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.model.eos_token_ids[0]
        self.stats = {"prefix_passes": 0, "shared_rows": 0, "plain_rows": 0, "passes": 0}

    # =============================================================================== public API
    def score_letters(self, queries: list[Query]) -> list[LetterScores]:
        """Per query, P(letter) over the shown letters where the reply names its option (after the
        prefill `letter_position` gives), renormalised, and the letters' mass under the full-vocabulary
        softmax there. The prefill is part of the suffix run against the shared [system + clip] prefix."""
        import torch

        if not queries:
            return []
        rows, readings = self.prepare_letters(queries)
        out: list[LetterScores | None] = [None] * len(rows)
        for batch in self.batches(rows):
            p = self._prompt_pass(batch)
            ids = [list(readings[r.index].letter_ids) for r in batch]
            width = max(len(i) for i in ids)
            idx = torch.tensor([i + [i[0]] * (width - len(i)) for i in ids], device=self.model.device)
            with torch.no_grad():
                logits = self.model.lm_head(p.last_hidden).float()  # [B, V], only the read positions
                logp = (logits.gather(1, idx) - logits.logsumexp(-1, keepdim=True)).double()
            for j, r in enumerate(batch):
                lp = logp[j, : len(ids[j])]
                out[r.index] = LetterScores(
                    probs=torch.softmax(lp, dim=-1).cpu().numpy(), mass=float(lp.exp().sum())
                )
        return out  # type: ignore[return-value]

    def score_options(self, queries: list[Query]) -> list[np.ndarray]:
        """Per query, softmax over the options' mean token log-likelihood as the reply. The prompt is run
        once per query (its [system + clip] prefix once per shared audio) and the options' replies are
        batched against it."""
        import torch

        if not queries:
            return []
        rows = self.prepare(queries)
        conts = [self._continuations(r) for r in rows]
        out: list[np.ndarray | None] = [None] * len(rows)
        # stage 2 holds every option of every row: keep rows x options within the row limit
        k_max = max(len(c) for c in conts)
        for batch in self.batches(rows, max_rows=max(1, self.max_batch_rows // k_max)):
            p = self._prompt_pass(batch)
            cont = [conts[r.index] for r in batch]
            k = [len(c) for c in cont]
            rep = torch.tensor(k, device=self.model.device)
            flat = [c for cs in cont for c in cs]
            width = max(len(c) for c in flat)
            ids = torch.full((len(flat), width), self.pad_id, dtype=torch.long, device=self.model.device)
            real = torch.zeros((len(flat), width), dtype=torch.long, device=self.model.device)
            for i, c in enumerate(flat):
                ids[i, : len(c)] = torch.tensor(c)
                real[i, : len(c)] = 1
            cache = self._repeat_cache(p.cache, rep)
            mask = torch.cat([p.mask.repeat_interleave(rep, 0), real], dim=1)
            pos = (
                p.n_real.repeat_interleave(rep, 0)[:, None]
                + torch.arange(width, device=self.model.device)[None]
            )
            with torch.no_grad():
                h = self.decode(self.model.embed(ids), mask, pos, cache, p.prefix).last_hidden_state
                # position t of a reply is predicted by the hidden state before it: the prompt's last
                # state for t = 0, the reply's own state t-1 after that. Head only on those states.
                first = self.model.lm_head(p.last_hidden).float().log_softmax(-1).repeat_interleave(rep, 0)
                lp0 = first.gather(1, ids[:, :1]).squeeze(1)
                sel = real[:, 1:].bool()
                rest = torch.zeros((len(flat), width - 1), device=self.model.device)
                if sel.any():
                    hs = h[:, :-1][sel]
                    lp = (
                        self.model.lm_head(hs)
                        .float()
                        .log_softmax(-1)
                        .gather(1, ids[:, 1:][sel][:, None])
                        .squeeze(1)
                    )
                    rest[sel] = lp
                total = lp0 + rest.sum(1)
                mean = total / real.sum(1).float()
            o = 0
            for j, r in enumerate(batch):
                out[r.index] = torch.softmax(mean[o : o + k[j]].double(), 0).cpu().numpy()
                o += k[j]
        return out  # type: ignore[return-value]

    def generate(self, queries: list[Query], sampling: Sampling) -> list[Generation]:
        """`sampling.n` completions per query; each row has its own seeded generator (from `seed`, the
        query key and the sample index), so results do not depend on batching or order.

        `Completion.logprobs` are the log-probabilities of the distribution actually sampled from:
        softmax(logits / temperature) restricted to the top-p nucleus and renormalised (vLLM's
        `logprobs_mode="processed_logprobs"`); for greedy decoding (temperature 0) the plain
        log-softmax of the logits. A completion ending in an end-of-turn token includes that token
        in `token_ids`/`logprobs` (finish_reason "stop"); `text` drops control tokens and keeps
        think/answer tags even where the tokenizer registers them as special (`completion_text`).
        """
        import torch

        if not queries:
            return []
        rows = self.prepare(queries)
        n = max(1, int(sampling.n))
        eos = torch.tensor(self.model.eos_token_ids, device=self.model.device)
        out: list[Generation | None] = [None] * len(rows)
        rows_per_pass = max(1, self.max_batch_rows // n)
        for batch in self.batches(rows, max_rows=rows_per_pass):
            p = self._prompt_pass(batch)
            B = len(batch) * n
            rep = torch.full((len(batch),), n, device=self.model.device)
            cache = self._repeat_cache(p.cache, rep)
            mask = p.mask.repeat_interleave(n, 0)
            pos = p.n_real.repeat_interleave(n, 0)
            gens = [self._generator(sampling.seed, r.query.key, s) for r in batch for s in range(n)]
            tokens: list[list[int]] = [[] for _ in range(B)]
            lps: list[list[float]] = [[] for _ in range(B)]
            done = torch.zeros(B, dtype=torch.bool, device=self.model.device)
            with torch.no_grad():
                logits = self.model.lm_head(p.last_hidden).float().repeat_interleave(n, 0)
                for step in range(int(sampling.max_new_tokens)):
                    nxt, lp = self._sample(logits, sampling, gens)
                    for b in range(B):
                        if not done[b]:
                            tokens[b].append(int(nxt[b]))
                            lps[b].append(float(lp[b]))
                    done |= torch.isin(nxt, eos)
                    if bool(done.all()) or step == sampling.max_new_tokens - 1:
                        break
                    nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
                    mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=mask.device)], 1)
                    h = self.decode(
                        self.model.embed(nxt[:, None]), mask, pos[:, None], cache, p.prefix
                    ).last_hidden_state
                    pos = pos + 1
                    logits = self.model.lm_head(h[:, -1]).float()
            eos_set = set(self.model.eos_token_ids)
            control = control_ids(self.model.tokenizer, eos_set)
            for j, r in enumerate(batch):
                comps = []
                for s in range(n):
                    b = j * n + s
                    ids = tokens[b]
                    comps.append(
                        Completion(
                            token_ids=ids,
                            text=completion_text(self.model.tokenizer, ids, control),
                            logprobs=lps[b] if sampling.logprobs else None,
                            finish_reason="stop" if ids and ids[-1] in eos_set else "length",
                        )
                    )
                out[r.index] = Generation(key=r.query.key, prompt_token_ids=r.prompt_ids, completions=comps)
        return out  # type: ignore[return-value]

    @property
    def sample_rate(self) -> int:
        return self.adapter.sample_rate

    @property
    def consumes(self) -> str:
        """What a query's clip must be: "audio" (`Query.audio`) or "codes" (`Query.codes`, MiMo-Audio)."""
        return self.adapter.consumes

    @property
    def codec(self) -> str | None:
        """The codec whose codes the family reads (None for waveform families)."""
        return self.adapter.codec

    def prompt_text(self, query: Query) -> str:
        return self.adapter.build_prompt(query)

    def anchoring_scorer(
        self, layers: Any = "deep", config: AnchoringConfig | None = None, batch_size: int = 4
    ) -> AnchoringPass:
        """The anchoring pass on this backend's own loaded model (no second copy of the weights)."""
        from .anchoring_pass import AnchoringPass

        return AnchoringPass(self.model, layers=layers, config=config, batch_size=batch_size)

    def clear_prefix_states(self) -> None:
        """Forget the cached [system + clip] prefixes (a benchmark times a cold call with this)."""
        self._prefix_states.clear()

    def close(self) -> None:
        self._prefix_states.clear()
        if self.model is not None and self._owns_model:
            self.model.close()
        self.model = None  # type: ignore[assignment]

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

    def _prompt_pass(self, batch: list[PreparedRow]) -> _Pass:
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
        return _Pass(last_hidden=last, cache=cache, mask=mask, n_real=start + n_seg, prefix=prefix)

    # ================================================================================ sampling
    def _generator(self, seed: int, key: str, sample: int):
        import torch

        digest = hashlib.sha256(f"{seed}\x00{key}\x00{sample}".encode()).digest()
        g = torch.Generator(device=self.model.device)
        g.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
        return g

    @staticmethod
    def _sample(logits, sampling: Sampling, gens):
        """Next tokens and their log-probabilities under the processed distribution (see `generate`)."""
        import torch

        if sampling.temperature <= 0:
            lp = logits.log_softmax(-1)
            nxt = lp.argmax(-1)
            return nxt, lp.gather(1, nxt[:, None]).squeeze(1)
        lp = (logits / sampling.temperature).log_softmax(-1)
        if sampling.top_p < 1.0:
            sorted_lp, order = lp.sort(-1, descending=True)
            cum = sorted_lp.exp().cumsum(-1)
            drop = cum - sorted_lp.exp() >= sampling.top_p  # keep the smallest set reaching top_p
            sorted_lp = sorted_lp.masked_fill(drop, float("-inf"))
            lp = torch.full_like(lp, float("-inf")).scatter(1, order, sorted_lp).log_softmax(-1)
        probs = lp.exp()
        nxt = torch.stack([torch.multinomial(probs[b], 1, generator=g)[0] for b, g in enumerate(gens)])
        return nxt, lp.gather(1, nxt[:, None]).squeeze(1)
