"""MiMo-Audio on vLLM through prompt embeddings: the backbone as a plain Qwen2 checkpoint, and sampling
from prefix embeddings this toolkit computes from cached codes.

Why this path: vLLM main has no MiMo-Audio model, and vllm-omni (which serves it, `vllm serve
XiaomiMiMo/MiMo-Audio-7B-Instruct --omni` with `MIMO_AUDIO_TOKENIZER_PATH`) takes audio and runs the
tokenizer on every request, so it cannot read the code cache. But a text answer after an audio prompt is
an ordinary causal LM over embeddings (`model.py`): the backbone and `lm_head` are exactly a
`Qwen2ForCausalLM` under the same tensor names, and vLLM accepts a prompt as embeddings
(`LLM(..., enable_prompt_embeds=True)`, then `llm.generate({"prompt_embeds": tensor [L, hidden]})`).
So:

- `export_backbone_for_vllm(mimo_dir, out_dir)` writes `model.*` + `lm_head.weight` with a Qwen2 config
  (no speech tensors), the tokenizer, and a generation config whose eos ids are upstream's stop tokens;
- `MiMoPrefixEmbedder` loads only the input side of the checkpoint (token embeddings, speech embeddings,
  the input local transformer, the group projection: well under 1 GB for the 7B model, never the
  backbone) and turns a query with codes into the prompt's embeddings, exactly as the transformers path
  builds them (the same adapter code);
- `MiMoVLLMBackend.generate` sends those embeddings with the seeds, temperature, top-p and processed
  log-probs the other backends use. `<|empty|>` gets a -100 logit bias (the transformers path masks it:
  a text answer never starts a speech group; with that bias its probability is below e^-100 relative).

Scoring (`score_letters`, `score_options`) and the anchoring pass stay on the transformers path (vLLM
returns no attention), which the rollout stage loads beside this backend for the anchoring reward.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import UserError, require
from ...mcq.completion_text import completion_text, control_ids
from ..types import Completion, Generation, LetterScores, Query, Sampling
from .model import QWEN2_KEYS

BACKBONE_PREFIXES = ("model.", "lm_head.")
INPUT_SIDE_PREFIXES = (
    "model.embed_tokens.",
    "speech_embeddings.",
    "input_local_transformer.",
    "speech_group_downcast.",
)
# config.json keys a Qwen2ForCausalLM reads (the backbone's, as the model builds it, plus the export's own);
# the speech keys are MiMo's own and are dropped
QWEN2_CONFIG_KEYS = (*QWEN2_KEYS, "tie_word_embeddings", "torch_dtype", "use_cache")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.jinja",
)


def export_backbone_for_vllm(mimo_dir: str | Path, out_dir: str | Path) -> Path:
    """Write MiMo-Audio's backbone and text head as a plain `Qwen2ForCausalLM` checkpoint in `out_dir`
    (module docstring). Tensors keep their names and dtype; nothing is recomputed. Returns `out_dir`."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from .loading import _checkpoint_index
    from .model import MiMoAudioConfig
    from .prompt import stop_token_ids

    src, out = Path(mimo_dir), Path(out_dir)
    cfg = MiMoAudioConfig.from_pretrained(src)  # checks that it is a MiMo-Audio checkpoint
    index = _checkpoint_index(src)
    keys = sorted(k for k in index if k.startswith(BACKBONE_PREFIXES))
    if "lm_head.weight" not in keys or "model.embed_tokens.weight" not in keys:
        raise UserError("the checkpoint lacks lm_head.weight or model.embed_tokens.weight", str(src))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    by_file: dict[Path, list[str]] = {}
    for k in keys:
        by_file.setdefault(index[k], []).append(k)
    weight_map: dict[str, str] = {}
    for i, (file, names) in enumerate(sorted(by_file.items())):
        part = f"model-{i + 1:05d}-of-{len(by_file):05d}.safetensors"
        with safe_open(str(file), framework="pt") as f:
            save_file(
                {k: f.get_tensor(k).contiguous() for k in names}, str(tmp / part), metadata={"format": "pt"}
            )
        weight_map.update(dict.fromkeys(names, part))
    (tmp / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1)
    )
    raw = {k: cfg.raw[k] for k in QWEN2_CONFIG_KEYS if k in cfg.raw}
    raw.update(
        architectures=["Qwen2ForCausalLM"],
        model_type="qwen2",
        tie_word_embeddings=False,
        head_dim=cfg.backbone.head_dim,
    )
    (tmp / "config.json").write_text(json.dumps(raw, indent=2) + "\n")
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    transformers = require("transformers", "models", "exporting MiMo-Audio for vLLM")
    tok = transformers.AutoTokenizer.from_pretrained(str(src))
    (tmp / "generation_config.json").write_text(json.dumps({"eos_token_id": stop_token_ids(tok)}) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


class MiMoPrefixEmbedder:
    """The input side of a MiMo-Audio checkpoint: a query (codes + question) -> prompt ids and embeddings.
    The backbone stays on the meta device (never allocated, never read)."""

    def __init__(self, mimo_dir: str | Path, device: str = "cpu", dtype: str = "float32"):
        torch = require("torch", "models", "MiMo-Audio prefix embeddings")
        transformers = require("transformers", "models", "MiMo-Audio prefix embeddings")
        from safetensors import safe_open

        from ..adapters.base import torch_dtype
        from ..adapters.mimo_audio import MiMoAudioAdapter, MiMoLoadedModel, disable_dropout
        from .loading import _checkpoint_index, _rebuild_rotary
        from .model import MiMoAudioConfig, MiMoAudioLM, MiMoSpecialTokens

        path = Path(mimo_dir)
        tok = transformers.AutoTokenizer.from_pretrained(str(path))
        config = MiMoAudioConfig.from_pretrained(path)
        with torch.device("meta"):
            lm = MiMoAudioLM(config, MiMoSpecialTokens.from_tokenizer(tok, str(path)), text_only=True)
        index = _checkpoint_index(path)
        wanted = [k for k in lm.state_dict() if k.startswith(INPUT_SIDE_PREFIXES)]
        missing = [k for k in wanted if k not in index]
        if missing:
            raise UserError(
                f"the checkpoint lacks {len(missing)} input-side tensors (e.g. {missing[0]})", str(path)
            )
        dt = torch_dtype("float32" if dtype == "auto" else dtype)
        state = {}
        for k in wanted:
            with safe_open(str(index[k]), framework="pt", device=str(device)) as f:
                state[k] = f.get_tensor(k).to(dt)
        lm.load_state_dict(state, strict=False, assign=True)
        _rebuild_rotary(lm, device)
        disable_dropout(lm.eval())
        self.model = MiMoLoadedModel(MiMoAudioAdapter(path), lm, tok)

    def __call__(self, queries: list[Query]) -> list[tuple[list[int], Any]]:
        """Per query, (prompt token ids, prompt embeddings [L, hidden] on the CPU)."""
        torch = require("torch", "models", "MiMo-Audio prefix embeddings")
        out = []
        with torch.no_grad():
            for q in queries:
                pre, suf = self.model.prompt_token_ids(q)
                ids = pre + suf
                clip = self.model.clip(q)
                t = torch.tensor([ids], device=self.model.device)
                emb = self.model.embed_with_audio(t, [clip] if clip is not None else None)[0]
                out.append((ids, emb.float().cpu()))
        return out


class MiMoVLLMBackend:
    """Sampling on vLLM from prompt embeddings (module docstring). `model`: a MiMo-Audio checkpoint
    folder; its vLLM export is written once to `export_dir` (default `<model>-vllm-backbone`)."""

    name = "vllm"
    consumes = "codes"
    codec = "mimo-audio"
    sample_rate = 24000

    def __init__(
        self,
        model: str | Path,
        dtype: str = "auto",
        device: str = "cuda",
        export_dir: str | None = None,
        seed: int = 0,
        max_model_len: int | None = 4096,
        engine_kwargs: dict[str, Any] | None = None,
        **ignored: Any,
    ):
        vllm = require("vllm", "vllm", "MiMo-Audio on vLLM")
        self._vllm = vllm
        self.path = Path(model)
        export = Path(export_dir) if export_dir else self.path.with_name(self.path.name + "-vllm-backbone")
        if not (export / "config.json").is_file():
            export_backbone_for_vllm(self.path, export)
        self.embedder = MiMoPrefixEmbedder(
            self.path,
            device="cpu" if device == "cpu" else device,
            dtype="float32" if dtype == "auto" else dtype,
        )
        kwargs: dict[str, Any] = {
            "model": str(export),
            "enable_prompt_embeds": True,
            "seed": seed,
            "logprobs_mode": "processed_logprobs",
            "dtype": dtype,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        kwargs.update(engine_kwargs or {})
        self._llm = vllm.LLM(**kwargs)
        tok = self.embedder.model.tokenizer
        self._tok = tok
        self._stop = self.embedder.model.eos_token_ids
        self._empty = self.embedder.model.special.empty
        self._control = control_ids(tok, [*self._stop, self._empty])

    def prompt_text(self, query: Query) -> str:
        return self.embedder.model.adapter.build_prompt(query)

    def anchoring_scorer(self, layers: Any = "deep", config: Any = None, batch_size: int = 4) -> None:
        return None  # no attention from vLLM: the rollout stage loads the transformers pass beside it

    def score_letters(self, queries: list[Query]) -> list[LetterScores]:
        raise UserError(
            "letter scoring of MiMo-Audio runs on the transformers backend",
            fix="use backend: transformers for this panel member",
        )

    def score_options(self, queries: list[Query]) -> list[np.ndarray]:
        raise UserError(
            "option scoring of MiMo-Audio runs on the transformers backend",
            fix="use backend: transformers for this panel member",
        )

    def generate(self, queries: list[Query], sampling: Sampling) -> list[Generation]:
        """`sampling.n` completions per query from its prefix embeddings; seeds from (seed, key) as the
        vLLM backend derives them, processed log-probs, `finish_reason` stop/length."""
        from ..vllm_backend import sampling_params

        n = max(1, int(sampling.n))
        greedy = sampling.temperature <= 0
        prompts = self.embedder(queries)
        reqs = [{"prompt_embeds": emb} for _, emb in prompts]
        params = [
            sampling_params(
                self._vllm,
                sampling,
                q.key,
                stop_token_ids=list(self._stop),
                logit_bias={self._empty: -100.0},
            )
            for q in queries
        ]
        outs = self._llm.generate(reqs, params, use_tqdm=False)
        gens = []
        for q, (ids, _), o in zip(queries, prompts, outs):
            comps = []
            for c in o.outputs:
                toks = list(c.token_ids)
                lps = (
                    [float(step[t].logprob) for step, t in zip(c.logprobs, toks)]
                    if sampling.logprobs
                    else None
                )
                comps.append(
                    Completion(
                        token_ids=toks,
                        text=completion_text(self._tok, toks, self._control),
                        logprobs=lps,
                        finish_reason="stop" if c.finish_reason == "stop" else "length",
                    )
                )
            gens.append(Generation(key=q.key, prompt_token_ids=ids, completions=comps * (n if greedy else 1)))
        return gens

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
