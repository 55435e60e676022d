"""The transformers backend: batched letter scoring, option scoring and sampling on CPU or GPU.

Running a transformers checkpoint behind the `Backend` protocol; the batching, shared prefix and
headless decoding it builds on are in `transformers_passes`.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import UserError, require
from ..mcq.completion_text import completion_text, control_ids
from .adapters import ModelAdapter, adapter_for_model
from .adapters.base import LoadedModel
from .letter_position import LetterReading, declared_opening
from .transformers_passes import PrefixState, PromptPasses
from .types import Completion, Generation, LetterScores, Query, Sampling

if TYPE_CHECKING:  # pragma: no cover
    from ..rewards.anchoring import AnchoringConfig
    from .anchoring_pass import AnchoringPass


class TransformersBackend(PromptPasses):
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
            adapter = adapter_for_model(model, family)
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
