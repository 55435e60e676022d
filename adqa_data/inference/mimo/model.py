"""MiMo-Audio-7B's language model on transformers' Qwen2 classes, fed cached RVQ codes.

The MiMo-Audio language model and its strict loader,
held equal to upstream by a fixture.

Why our own: upstream (XiaomiMiMo/MiMo-Audio, `src/mimo_audio/modeling_mimo_audio.py`) pins transformers
4.49, its forward returns text logits for the last position only and its generate runs one sequence at a
time; training needs full-sequence logits and batches. This module computes the same function
(`tests/inference/test_mimo_model.py` compares it with logits the upstream code computed) and reads the
official checkpoint by its key names.

The model. The LM steps once per *group* of `group_size` (4) codec frames (25 Hz frames, so 6.25 groups/s).
Upstream's input is `[B, 1 + 8, T]`: row 0 text, rows 1-8 the first 8 RVQ layers (vocabularies 1025,
1025, 129 x 6; the last id of each, 1024 or 128, is its "empty" id), T = 4 x groups. Per group:
- the text token is read at the group's first position (upstream writes -100 at the other three);
- the 4 x 8 speech ids are embedded per layer (an empty id gives zero), summed per frame, passed through
  the *input local transformer* (a small Qwen2 over the group's 4 frames), flattened and projected to the
  LM width (`speech_group_downcast`);
- the group's embedding is the text embedding (zero when the text id is `<|empty|>`) plus that speech
  embedding (zero unless the text id is `<|empty|>`): a group is either text or speech.
A Qwen2 backbone runs over the groups and `lm_head` gives text logits. A generated text group carries its
text token and empty speech ids, so its embedding is the plain token embedding: a text answer after an
audio prompt is an ordinary causal LM over embeddings (`build_prefix` + token embeddings).

Numerics kept from upstream on purpose, so float32 runs match it to ~1e-6 rather than ~1e-2:
- the per-layer speech embeddings are summed into a bfloat16 buffer whatever the weight dtype, so the
  input local transformer gets a bfloat16 input (transformers then also rounds its rotary tables and its
  first RMSNorm output to bfloat16). In a bfloat16 model this changes nothing.
- the input local transformer attends bidirectionally within a group when `input_full_attention` is true
  (the official config). Upstream gets this from SDPA's `is_causal=False`, its default attention; under
  transformers' eager attention upstream would silently be causal. We are bidirectional under any
  attention implementation.
- its attention dropout is `local_attn_dropout` (0.1 in the official config), active in train mode.
Not kept: transformers 4.49 applies the config's `sliding_window` (its default: 4096) to the attention
mask even when `use_sliding_window` is false, once a sequence reaches that many groups, so upstream sees
only the last 4096 groups (~11 min of audio) of longer inputs; here the window applies only when
`use_sliding_window` is true.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from transformers import Qwen2Config
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.qwen2.modeling_qwen2 import Qwen2Model

from ...core.errors import UserError

# The official layout: 8 RVQ layers, codebooks 1024, 1024, 128 x 6, plus one "empty" id each.
OFFICIAL_SPEECH_VOCAB = (1025, 1025, 129, 129, 129, 129, 129, 129)
OFFICIAL_EMPTY_IDS = (1024, 1024, 128, 128, 128, 128, 128, 128)
GROUP_SIZE = 4
ARCHITECTURES = ("MiMoAudioModel", "MiMoAudioForCausalLM")
SPEECH_SUM_DTYPE = torch.bfloat16  # upstream's speech-embedding accumulator, whatever the weight dtype

# The speech-output part (the "local transformer" that writes 4 x 8 codes for a speech group, its
# per-layer heads and input projections). Not used to answer in text; `text_only` skips these keys.
SPEECH_OUTPUT_PREFIXES = (
    "local_transformer.",
    "local_transformer_lm_heads.",
    "hidden_states_downcast.",
    "speech_embeddings_to_local.",
)

# config.json keys passed to the Qwen2 configs (backbone; the local transformers derive from it as
# upstream's `local_config()` / `input_local_config()` do). Other keys are MiMo's own or unused.
QWEN2_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "layer_types",
    "attention_dropout",
    "initializer_range",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
)
# upstream MiMoAudioConfig defaults, used when config.json omits a key
_MIMO_DEFAULTS: dict[str, Any] = {
    "head_dim": 128,
    "group_size": 4,
    "audio_channels": 8,
    "local_dim": 1024,
    "local_layers": 16,
    "local_attn_heads": 64,
    "local_ffn_dim": 4096,
    "local_attn_dropout": 0.1,
    "input_local_layers": 6,
    "input_local_dim": None,  # -> local_dim
    "input_full_attention": None,  # -> causal
}
SPECIAL_TOKEN_NAMES = {"empty": "<|empty|>", "sosp": "<|sosp|>", "eosp": "<|eosp|>"}


def _parse_ids(value: str | int, length: int, key: str, where: str) -> tuple[int, ...]:
    """Upstream's `_parse_maybe_list`: "1025-1025-129" -> per-layer values; a single value -> repeated."""
    try:
        if isinstance(value, str) and "-" in value:
            out = tuple(int(s) for s in value.split("-"))
        else:
            out = (int(value),) * length
    except (TypeError, ValueError):
        raise UserError(
            f"config key {key!r} is not an int or a '-'-joined list of ints: {value!r}", where
        ) from None
    if len(out) != length:
        raise UserError(f"config key {key!r} has {len(out)} values for {length} audio channels", where)
    return out


@dataclass(frozen=True)
class MiMoSpecialTokens:
    """Text ids the model input needs: `<|empty|>` (the text id of a speech group), `<|sosp|>`/`<|eosp|>`
    (the text groups around an audio clip)."""

    empty: int
    sosp: int
    eosp: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, where: str | None = None) -> MiMoSpecialTokens:
        ids = {}
        for attr, token in SPECIAL_TOKEN_NAMES.items():
            i = tokenizer.convert_tokens_to_ids(token)
            if not isinstance(i, int) or tokenizer.convert_ids_to_tokens(i) != token:
                raise UserError(
                    f"the tokenizer has no {token} token (MiMo-Audio's tokenizer has it)",
                    where,
                    "use the tokenizer saved with the MiMo-Audio checkpoint",
                )
            ids[attr] = i
        return cls(**ids)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> MiMoSpecialTokens:
        fix = "save the tokenizer next to the checkpoint, or pass special_tokens=MiMoSpecialTokens(...)"
        return cls.from_tokenizer(load_tokenizer(path, fix), str(path))


def load_tokenizer(path: str | Path, fix: str) -> Any:
    """The text tokenizer saved with a MiMo-Audio checkpoint; a one-line error (with `fix`) when it cannot
    be loaded."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the MiMo-Audio tokenizer from {path}: {e}", str(path), fix) from None


@dataclass(frozen=True)
class MiMoAudioConfig:
    """The checkpoint's config.json, parsed: one Qwen2 config per transformer plus MiMo's speech facts."""

    backbone: Qwen2Config
    input_local: Qwen2Config
    local: Qwen2Config  # the speech-output transformer (built only when not text_only)
    speech_vocab_sizes: tuple[int, ...]
    speech_empty_ids: tuple[int, ...]
    group_size: int
    audio_channels: int
    input_full_attention: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(
        cls, raw: dict[str, Any], where: str = "config.json", attn_implementation: str = "sdpa"
    ) -> MiMoAudioConfig:
        """Check that `raw` is a MiMo-Audio config (model_type "qwen2", architectures naming
        MiMoAudioModel/MiMoAudioForCausalLM when given, the speech keys present) and parse it."""
        model_type = raw.get("model_type")
        archs = raw.get("architectures") or []
        if model_type != "qwen2" or (archs and not set(archs) & set(ARCHITECTURES)):
            raise UserError(
                f"not a MiMo-Audio checkpoint: model_type {model_type!r}, architectures {archs} "
                f"(MiMo-Audio has model_type 'qwen2' and architectures {list(ARCHITECTURES[:1])})",
                where,
                "point at a XiaomiMiMo/MiMo-Audio-7B-Instruct (or -Base) download",
            )
        missing = [
            k
            for k in ("speech_vocab_size", "speech_zeroemb_idx", "hidden_size", "num_hidden_layers")
            if k not in raw
        ]
        if missing:
            raise UserError(f"not a MiMo-Audio config: keys {missing} are missing", where)
        m = {k: raw.get(k, v) for k, v in _MIMO_DEFAULTS.items()}
        channels, group = int(m["audio_channels"]), int(m["group_size"])
        vocab = _parse_ids(raw["speech_vocab_size"], channels, "speech_vocab_size", where)
        empty = _parse_ids(raw["speech_zeroemb_idx"], channels, "speech_zeroemb_idx", where)
        if group < 1 or any(not 0 <= e < v for e, v in zip(empty, vocab)):
            raise UserError(f"bad speech layout: group_size {group}, vocab {vocab}, empty ids {empty}", where)

        base = {k: raw[k] for k in QWEN2_KEYS if k in raw}
        base["head_dim"] = m["head_dim"]

        def qwen2(**override: Any) -> Qwen2Config:
            kw = {**base, **override}
            if override:  # a derived transformer: its own layer count, no text vocabulary
                kw.pop("layer_types", None)
                kw.update(vocab_size=1, pad_token_id=None, bos_token_id=None, eos_token_id=None)
            cfg = Qwen2Config(**kw)
            cfg._attn_implementation = attn_implementation
            return cfg

        heads = int(m["local_attn_heads"])

        def local_qwen2(dim: int, layers: Any, ffn: int) -> Qwen2Config:
            """A speech-side transformer: `local_attn_heads` heads, no grouped KV, the local dropout."""
            return qwen2(
                hidden_size=dim,
                num_hidden_layers=int(layers),
                num_attention_heads=heads,
                num_key_value_heads=heads,
                head_dim=dim // heads,
                intermediate_size=ffn,
                attention_dropout=m["local_attn_dropout"],
            )

        local_dim = int(m["local_dim"])
        in_dim = int(m["input_local_dim"] or local_dim)
        input_local = local_qwen2(in_dim, m["input_local_layers"], in_dim * 4)
        full = bool(m["input_full_attention"])
        if full:  # transformers' mask builders read this; the attention modules are set in MiMoAudioLM
            input_local.is_causal = False
        local = local_qwen2(local_dim, m["local_layers"], int(m["local_ffn_dim"]))
        return cls(qwen2(), input_local, local, vocab, empty, group, channels, full, dict(raw))

    @classmethod
    def from_pretrained(cls, path: str | Path, attn_implementation: str = "sdpa") -> MiMoAudioConfig:
        f = Path(path) / "config.json"
        if not f.is_file():
            raise UserError(f"no config.json in {path}", str(path), "point at a MiMo-Audio checkpoint folder")
        try:
            raw = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"config.json is not valid JSON: {e}", str(f)) from e
        return cls.from_dict(raw, str(f), attn_implementation)


def pad_codes(
    codes: np.ndarray,
    *,
    group_size: int = GROUP_SIZE,
    empty_ids: Sequence[int] = OFFICIAL_EMPTY_IDS,
    fill: Literal["repeat", "empty"] = "repeat",
) -> np.ndarray:
    """Cached codes `[n_q >= 8, frames]` -> the LM's `[8, group_size * ceil(frames / group_size)]` int64.

    Keeps the first `len(empty_ids)` RVQ layers. `fill="repeat"` repeats the last frame, as upstream's
    `MimoAudio.preprocess_input` does (and the MiMo codec adapter already did when it wrote the cache, so
    cached codes come back unchanged); `fill="empty"` pads with each layer's empty id (embedded as zero).
    Ids must lie in [0, empty id] per layer.
    """
    c = np.asarray(codes)
    n = len(empty_ids)
    if c.ndim != 2 or c.shape[0] < n or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"codes must be an integer array [n_q >= {n}, frames], got {c.dtype} {c.shape}")
    c = c[:n].astype(np.int64)
    top = np.asarray(empty_ids, dtype=np.int64)[:, None]
    if c.size and (c.min() < 0 or (c > top).any()):
        raise ValueError(f"codes out of range: layer ids must lie in [0, {list(empty_ids)}]")
    need = (-c.shape[1]) % group_size
    if need == 0:
        return c
    if fill == "repeat":
        if c.shape[1] == 0:
            return c
        pad = np.repeat(c[:, -1:], need, axis=1)
    elif fill == "empty":
        pad = np.repeat(top, need, axis=1)
    else:
        raise ValueError(f"fill must be 'repeat' or 'empty', not {fill!r}")
    return np.concatenate([c, pad], axis=1)


def _headless_qwen2(config: Qwen2Config, bidirectional: bool = False) -> Qwen2Model:
    """A Qwen2 stack fed with embeddings (no token table), as upstream's local transformers."""
    m = Qwen2Model(config)
    m.embed_tokens = None
    if bidirectional:
        for layer in m.layers:
            layer.self_attn.is_causal = False
    return m


class MiMoAudioLM(nn.Module):
    """MiMo-Audio's text side. Parameter names are the official checkpoint's keys.

    Inputs are embeddings (`embed_inputs`, `build_prefix`, `text_embeddings`); `forward` returns text
    logits for every position (or the last `logits_to_keep`). With `text_only=False` the speech-output
    modules are built too (their weights load; nothing here runs them).
    """

    def __init__(self, config: MiMoAudioConfig, special: MiMoSpecialTokens, *, text_only: bool = True):
        super().__init__()
        self.config = config
        self.special = special
        self.text_only = text_only
        self.group_size = config.group_size
        self.audio_channels = config.audio_channels
        self.speech_empty_ids = config.speech_empty_ids
        hidden, in_dim = config.backbone.hidden_size, config.input_local.hidden_size

        self.model = Qwen2Model(config.backbone)
        self.lm_head = nn.Linear(hidden, config.backbone.vocab_size, bias=False)
        self.speech_embeddings = nn.ModuleList(
            nn.Embedding(v, in_dim, padding_idx=e)
            for v, e in zip(config.speech_vocab_sizes, config.speech_empty_ids)
        )
        self.input_local_transformer = _headless_qwen2(config.input_local, config.input_full_attention)
        self.speech_group_downcast = nn.Linear(in_dim * config.group_size, hidden, bias=False)
        if not text_only:
            local_dim = config.local.hidden_size
            self.local_transformer = _headless_qwen2(config.local)
            self.local_transformer_lm_heads = nn.ModuleList(
                nn.Linear(local_dim, v, bias=False) for v in config.speech_vocab_sizes
            )
            if in_dim != local_dim:
                self.speech_embeddings_to_local = nn.Linear(in_dim, local_dim, bias=False)
            self.hidden_states_downcast = nn.Linear(hidden, local_dim, bias=False)

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm_head.weight.dtype

    # ------------------------------------------------------------------------------------ embeddings
    def text_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids `[...]` -> `[..., hidden]`: the embedding of a text group (what generation appends)."""
        return self.model.embed_tokens(ids)

    def _speech_groups(self, ids: torch.Tensor) -> torch.Tensor:
        """Speech ids `[N, channels, group_size]` of N speech groups -> `[N, hidden]`."""
        n, s = ids.shape[0], ids.shape[2]
        acc = torch.zeros(
            n, s, self.input_local_transformer.config.hidden_size, dtype=SPEECH_SUM_DTYPE, device=ids.device
        )
        for c, table in enumerate(self.speech_embeddings):
            cur = ids[:, c, :]
            e = table(cur).masked_fill((cur == self.speech_empty_ids[c]).unsqueeze(-1), 0.0)
            acc = (acc + e).to(SPEECH_SUM_DTYPE)  # = upstream's in-place `+=` into its bfloat16 buffer
        x = self.input_local_transformer(inputs_embeds=acc, use_cache=False).last_hidden_state
        return self.speech_group_downcast(x.reshape(n, -1))

    def speech_group_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[B, 8, frames]` (frames a multiple of group_size; see `pad_codes`) -> `[B, groups, hidden]`."""
        b, c, f = codes.shape
        s = self.group_size
        if c != self.audio_channels or f % s:
            raise ValueError(
                f"codes must be [B, {self.audio_channels}, multiple of {s}], got {tuple(codes.shape)}"
            )
        g = f // s
        ids = codes.reshape(b, c, g, s).transpose(1, 2).reshape(b * g, c, s)
        return self._speech_groups(ids).reshape(b, g, -1)

    def embed_inputs(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Upstream's input layout `[B, 1 + 8, T]` -> group embeddings `[B, T / group_size, hidden]`."""
        b, rows, t = input_ids.shape
        s, c = self.group_size, self.audio_channels
        if rows != 1 + c or t % s:
            raise ValueError(f"input_ids must be [B, {1 + c}, multiple of {s}], got {tuple(input_ids.shape)}")
        g = t // s
        text = input_ids[:, 0, ::s]  # [B, G]
        is_speech = text == self.special.empty
        out = self.model.embed_tokens(text).masked_fill(is_speech.unsqueeze(-1), 0.0)
        if bool(is_speech.any()):
            speech = input_ids[:, 1:, :].reshape(b, c, g, s).transpose(1, 2)  # [B, G, C, S]
            full = torch.zeros_like(out)
            full[is_speech] = self._speech_groups(speech[is_speech]).to(out.dtype)
            out = out + full
        return out

    def build_prefix(
        self, prompt_before_ids: Sequence[int], codes: np.ndarray, prompt_after_ids: Sequence[int]
    ) -> torch.Tensor:
        """The embeddings `[L, hidden]` of a prompt with one clip between two text parts:
        `prompt_before_ids`, `<|sosp|>`, one group per 4 frames of `codes` (`[n_q >= 8, frames]`, padded by
        `pad_codes`), `<|eosp|>`, `prompt_after_ids`. L = len(before) + 2 + groups + len(after)."""
        padded = pad_codes(codes, group_size=self.group_size, empty_ids=self.speech_empty_ids)
        dev = self.device
        before = torch.tensor([*prompt_before_ids, self.special.sosp], dtype=torch.long, device=dev)
        after = torch.tensor([self.special.eosp, *prompt_after_ids], dtype=torch.long, device=dev)
        parts = [self.text_embeddings(before)]
        if padded.shape[1]:
            parts.append(self.speech_group_embeddings(torch.from_numpy(padded).to(dev)[None])[0])
        parts.append(self.text_embeddings(after))
        return torch.cat(parts)

    # ------------------------------------------------------------------------------------ forward
    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
        logits_to_keep: int | torch.Tensor = 0,
    ) -> CausalLMOutputWithPast:
        """Text logits for `inputs_embeds` `[B, L, hidden]`.

        `attention_mask` `[B, past + L]` (1 = real; left padding) as in transformers; without
        `position_ids` positions count real groups only (upstream's generation does the same).
        `logits_to_keep`: 0 = every position, n = the last n, or a tensor of positions.
        Returns `.logits` `[B, kept, vocab]` and `.past_key_values` when `use_cache`.
        """
        if position_ids is None and attention_mask is not None:
            pos = attention_mask.long().cumsum(-1) - 1
            position_ids = pos.masked_fill(attention_mask == 0, 1)[:, -inputs_embeds.shape[1] :]
        out = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
        )
        h = out.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        return CausalLMOutputWithPast(logits=self.lm_head(h[:, keep, :]), past_key_values=out.past_key_values)

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None
    ) -> None:
        """Activation checkpointing on the backbone's layers (the trainer turns it on on a GPU); the small
        input local transformer runs once per group and keeps its activations."""
        self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    def set_attn_implementation(self, attn_implementation: str) -> None:
        """The backbone's attention kernel (sdpa or eager; the trainer's 4-D group mask needs one of them)."""
        self.model.set_attn_implementation(attn_implementation)

    def save_pretrained(self, out_dir: str | Path, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        """Write `config.json` and `model.safetensors` under the official key names (what
        `load_mimo_audio` reads; the trainer exports a policy this way). A `text_only` model writes no
        speech-output tensors: load the result with `text_only=True` (the default)."""
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = self.state_dict() if state_dict is None else state_dict
        save_file(
            {k: v.detach().contiguous() for k, v in state.items()},
            str(out / "model.safetensors"),
            metadata={"format": "pt"},
        )
        (out / "config.json").write_text(json.dumps(self.config.raw, indent=2) + "\n")


# ---------------------------------------------------------------------------------------- loading
