"""Response→key attention maps for the attention-anchoring reward, at a cost a 7B model can afford.

Capturing the response rows' attention from chosen
decoder layers without `output_attentions=True`, exactly as eager attention would compute them.

vLLM returns no attention weights, so the anchoring reward (docs/method.md#rewards) needs a second pass
with transformers over prompt + completion. The obvious way, `output_attentions=True`, forces the eager
attention kernel in every layer and returns one `[B, heads, L, L]` tensor per layer: for Qwen2-Audio-7B
(32 layers, 32 heads) with 30 s of audio (750 tokens), a question and a 200-token completion
(L ≈ 1,050) that is ~2.2 GB per sequence in bf16, almost all of it rows and layers the reward never
reads. Instead:

* the model runs with its own fast attention (SDPA / flash) and is left untouched;
* on each *chosen* decoder layer, forward hooks on `q_proj` and `k_proj` keep the projections the model
  just computed (bias, and any LoRA delta, included), and a forward hook on the self-attention module
  (`with_kwargs=True`) receives the `position_embeddings = (cos, sin)` it was called with; from these it
  recomputes attention only for the response query rows against all keys, exactly as the model's eager
  path does (optional per-head q_norm/k_norm as in Qwen3, rotary via `rotate_half` with cos/sin sliced
  separately for the query rows and the key rows, `scaling = head_dim**-0.5`, grouped-query heads,
  causal (and sliding-window) mask, softmax in fp32). Reusing the projections rather than re-running
  them on the hook's `hidden_states` makes the inputs bit-identical to the model's and leaves only the
  `[heads, response_len, total_len]` score block as extra work;
* the heads are averaged at once and the layers are summed into one running buffer, so what survives a
  layer is `[response_len, total_len]` per sequence, never `[B, heads, q, k]`;
* the forward is stopped right after the last chosen layer: nothing after it (the remaining layers, the
  final norm, a 150k-vocabulary LM head over every position) contributes to the maps.

Only the Qwen2 family's attention layout is assumed (`q_proj`, `k_proj`, `head_dim`, `scaling`,
`num_key_value_groups`, optional `q_norm`/`k_norm`, `sliding_window`): Qwen2, Qwen2.5, Qwen3 text models,
Qwen2-Audio and the Qwen2.5-Omni thinker (whose multimodal rotary is already folded into the `cos/sin`
the hook receives). A module that lacks those attributes raises instead of producing wrong numbers.

Coordinates. Every returned map is over the *valid* positions of its row (those where
`attention_mask == 1`, in order), so with right padding column j is token j of the unpadded sequence.
`response_start` is an index into the row of `input_ids` as passed (the first completion token); the
response rows are the valid positions at or after it. `audio_key_masks` uses the same coordinates, so
`anchoring_score(maps[i], audio_masks[i])` lines up without any index arithmetic.

torch and transformers are imported lazily: the CLI imports this package without needing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch
    from torch import nn
    from typing_extensions import Self

LayerSpec = Sequence[int] | int | Literal["deep"]
Reduce = Literal["mean", "layers", "heads"]

DEEP_FRACTION = 0.25
"""Default share of decoder layers hooked, counted from the top ("deep layers").

Why the last quarter: the anchoring reward is defined on deep-layer attention (docs/method.md#rewards, no
layer count given). Shallow layers of decoder LMs attend mostly by position and to attention sinks;
the last layers are where the response tokens' attention carries the content they draw on. Averaging
several deep layers rather than taking the single last one smooths the idiosyncrasies of any one layer
(the final layer in particular specialises in next-token prediction). A quarter is 8 of Qwen2-Audio-7B's
32 layers and 7 of a 28-layer Qwen2.5-7B. The cost grows with the number of hooked layers but stays
small (one `[heads, response_len, total_len]` score block per layer and sequence); the memory kept
does not grow at all with `reduce="mean"`. Pass `layers=` to choose others.
"""


class _StopForward(Exception):
    """Raised from the last chosen layer's hook: everything after it is wasted work for the maps."""


def resolve_layers(num_layers: int, layers: LayerSpec = "deep") -> list[int]:
    """Turn a layer spec into sorted, distinct, non-negative layer indices.

    `"deep"`: the last `ceil(num_layers * DEEP_FRACTION)` layers (at least one). An int k: the last k
    layers. A sequence: explicit indices, negative ones counted from the end as in Python.
    """
    if isinstance(layers, str):
        if layers != "deep":
            raise ValueError(f"unknown layer spec {layers!r}; use 'deep', an int k (last k) or a list")
        k = max(1, int(np.ceil(num_layers * DEEP_FRACTION)))
        return list(range(num_layers - k, num_layers))
    if isinstance(layers, (int, np.integer)):
        if not 1 <= int(layers) <= num_layers:
            raise ValueError(f"last-k layer count {layers} outside 1..{num_layers}")
        return list(range(num_layers - int(layers), num_layers))
    out: set[int] = set()
    for i in layers:
        j = int(i) + num_layers if int(i) < 0 else int(i)
        if not 0 <= j < num_layers:
            raise ValueError(f"layer index {i} outside a {num_layers}-layer model")
        out.add(j)
    if not out:
        raise ValueError("no layers chosen")
    return sorted(out)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The text decoder's layer list of a causal LM or an audio-language model.

    `get_decoder()` finds the language model inside Qwen2-Audio (`model.model.language_model`) and the
    Omni thinker (`thinker.model`); searching modules by name instead would also find the audio encoder,
    whose layers have a `self_attn` with `q_proj`/`k_proj` too.
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise TypeError(f"cannot find decoder layers in {type(model).__name__} (no get_decoder().layers)")
    return layers


def audio_token_id_of(model: nn.Module) -> int:
    """The id of the expanded audio placeholder token (`<|AUDIO|>`) from the model's config."""
    config = model.config
    for owner in (config, getattr(config, "thinker_config", None)):
        if owner is None:
            continue
        for name in ("audio_token_id", "audio_token_index"):
            value = getattr(owner, name, None)
            if value is not None:
                return int(value)
    raise ValueError(f"{type(model).__name__}'s config names no audio token id")


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def audio_key_masks(
    input_ids: Any,
    attention_mask: Any,
    audio_token_id: int,
    response_start: int | Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Per sequence, a bool array over its valid positions: True where the key is an audio token.

    The input ids must be the *expanded* ones (the processor repeats `<|AUDIO|>` once per audio frame,
    25 per second for Qwen2-Audio), so each audio position is one placeholder token. Columns line up
    with the maps returned by `capture_response_attention` on the same batch. Pass `response_start`
    (as given to the capture) so that a placeholder id the policy happened to *generate* is not counted
    as audio: only the prompt carries audio embeddings.
    """
    ids = _as_numpy(input_ids)
    mask = _as_numpy(attention_mask).astype(bool) if attention_mask is not None else np.ones_like(ids, bool)
    batch, width = ids.shape
    if response_start is None:
        starts = [width] * batch
    elif isinstance(response_start, (int, np.integer)):
        starts = [int(response_start)] * batch
    else:
        starts = [int(x) for x in response_start]
    out = []
    for b in range(batch):
        is_audio = (ids[b] == audio_token_id) & (np.arange(width) < starts[b])
        out.append(is_audio[mask[b]])
    return out


@dataclass
class BatchLayout:
    """Right-padded prompt + completion ids with everything the capture needs."""

    input_ids: Any  # torch.LongTensor [B, L]
    attention_mask: Any  # torch.LongTensor [B, L]
    response_start: list[int]  # index of each row's first completion token


def right_pad(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> BatchLayout:
    """Concatenate prompt and completion ids per row and right-pad to one tensor.

    Right padding keeps every row's positions (and therefore its rotary phases) equal to those of the
    unpadded sequence, so the anchoring pass sees what the sampling pass saw.
    """
    import torch

    if len(prompts) != len(completions):
        raise ValueError("one completion per prompt")
    rows = [list(p) + list(c) for p, c in zip(prompts, completions)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, : len(r)] = 1
    return BatchLayout(ids, mask, [len(p) for p in prompts])


@dataclass
class _Row:
    keys: torch.Tensor  # absolute positions of the valid keys, [T]
    queries: torch.Tensor  # absolute positions of the response rows, [R]


@dataclass
class AttentionRecorder(AbstractContextManager["AttentionRecorder"]):
    """Hooks on chosen decoder layers that reduce response-row attention as the forward runs.

    Use `capture_response_attention` for the common case. Use this directly to record the maps during a
    forward you run anyway (e.g. one that also produces log-probabilities): within the `with` block
    call `arm(...)` before each forward, run the forward, then read `maps()`. With `stop_early=False`
    the hooks only read tensors the model computed (and do their own work under `no_grad`), so the
    model's outputs are exactly those of an unhooked forward, gradients included.

    `reduce`: "mean" keeps one `[R, T]` sum per sequence (heads averaged, layers summed then divided by
    the layer count); "layers" keeps `[n_layers, R, T]`; "heads" keeps `[n_layers, heads, R, T]` (for
    diagnostics and tests only: it is the one mode whose memory grows with the head count).
    """

    model: Any
    layers: LayerSpec = "deep"
    reduce: Reduce = "mean"
    stop_early: bool = False
    layer_ids: list[int] = field(init=False, default_factory=list)
    _handles: list[Any] = field(init=False, default_factory=list)
    _rows: list[_Row] | None = field(init=False, default=None)
    _acc: list[Any] = field(init=False, default_factory=list)
    _seen: set[int] = field(init=False, default_factory=set)
    _width: int = field(init=False, default=0)
    _stash: dict[tuple[int, str], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.reduce not in ("mean", "layers", "heads"):
            raise ValueError(f"reduce must be mean, layers or heads, not {self.reduce!r}")
        self._decoder_layers = decoder_layers(self.model)
        self.layer_ids = resolve_layers(len(self._decoder_layers), self.layers)

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            for slot, i in enumerate(self.layer_ids):
                attn = self._decoder_layers[i].self_attn
                _check_attention_module(attn)
                self._handles.append(attn.q_proj.register_forward_hook(self._stash_hook(slot, "q")))
                self._handles.append(attn.k_proj.register_forward_hook(self._stash_hook(slot, "k")))
                self._handles.append(attn.register_forward_hook(self._attention_hook(slot), with_kwargs=True))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._stash.clear()

    def arm(self, attention_mask: torch.Tensor, response_start: int | Sequence[int]) -> None:
        """Set the rows to record for the next forward over a batch with this attention mask."""
        import torch

        batch = attention_mask.shape[0]
        starts = (
            [int(response_start)] * batch
            if isinstance(response_start, (int, np.integer))
            else list(response_start)
        )
        if len(starts) != batch:
            raise ValueError(f"{len(starts)} response starts for a batch of {batch}")
        rows = []
        for b in range(batch):
            keys = torch.nonzero(attention_mask[b].bool(), as_tuple=False).flatten()
            rows.append(_Row(keys=keys, queries=keys[keys >= starts[b]]))
        self._rows = rows
        self._width = int(attention_mask.shape[1])
        self._acc = [None] * batch
        self._seen = set()
        self._stash.clear()

    def maps(self) -> list[np.ndarray]:
        """The recorded maps, one float32 array per sequence (see the class docstring for shapes)."""
        if self._rows is None:
            raise RuntimeError("arm() was not called")
        if len(self._seen) != len(self.layer_ids):
            raise RuntimeError(
                f"{len(self._seen)} of {len(self.layer_ids)} hooked layers ran: the forward did not reach them"
            )
        out = []
        for acc in self._acc:
            if self.reduce == "mean":
                acc = acc / len(self.layer_ids)
            out.append(acc.float().cpu().numpy())
        return out

    # -- the hooks --------------------------------------------------------------------------------
    def _stash_hook(self, slot: int, which: str):
        """Keep the q/k projection outputs the model just computed (bias, LoRA deltas and all), so the
        recomputation reuses them bit for bit instead of re-running two projections over every token."""

        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if self._rows is not None:
                self._stash[(slot, which)] = output

        return hook

    def _attention_hook(self, slot: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if self._rows is None:
                return
            pos = kwargs.get("position_embeddings")
            q = self._stash.pop((slot, "q"), None)
            k = self._stash.pop((slot, "k"), None)
            if pos is None or q is None or k is None:
                raise RuntimeError(
                    f"layer {self.layer_ids[slot]}: attention ran without position_embeddings=(cos, sin) or "
                    "without calling q_proj/k_proj; this model's attention layout is not supported"
                )
            if slot in self._seen:
                raise RuntimeError("a second forward ran without arm(): call arm() before each forward")
            self._record(slot, module, q, k, pos)
            self._seen.add(slot)
            if self.stop_early and slot == len(self.layer_ids) - 1:
                raise _StopForward

        return hook

    def _record(self, slot: int, module: nn.Module, q: torch.Tensor, k: torch.Tensor, pos: tuple) -> None:
        import torch

        rows = self._rows
        assert rows is not None
        if q.shape[0] != len(rows):
            raise RuntimeError(f"hook saw a batch of {q.shape[0]}, armed for {len(rows)}")
        if q.shape[1] != self._width:
            raise RuntimeError(
                f"the text model saw {q.shape[1]} positions, the attention mask has {self._width}: the model "
                "changed the sequence length (were the audio placeholders expanded by the processor?)"
            )
        cos, sin = pos
        with torch.no_grad():
            self._accumulate(slot, module, q, k, cos, sin)

    def _accumulate(
        self,
        slot: int,
        module: nn.Module,
        q: torch.Tensor,
        k: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
    ) -> None:
        import torch

        rows = self._rows
        assert rows is not None
        for b, row in enumerate(rows):
            probs = _response_attention(
                module,
                q[b],
                k[b],
                cos[b if cos.shape[0] > 1 else 0],
                sin[b if sin.shape[0] > 1 else 0],
                row.queries.to(q.device),
                row.keys.to(q.device),
            )  # [H, R, T] fp32
            piece = probs if self.reduce == "heads" else probs.mean(dim=0)
            if self.reduce == "mean":
                self._acc[b] = piece if self._acc[b] is None else self._acc[b].add_(piece)
            else:
                if self._acc[b] is None:
                    self._acc[b] = torch.empty(
                        (len(self.layer_ids), *piece.shape), dtype=torch.float32, device=piece.device
                    )
                self._acc[b][slot] = piece


def _check_attention_module(attn: nn.Module) -> None:
    missing = [
        a for a in ("q_proj", "k_proj", "head_dim", "scaling", "num_key_value_groups") if not hasattr(attn, a)
    ]
    if missing:
        raise TypeError(f"{type(attn).__name__} lacks {missing}: not a Qwen2-family attention module")
    config = getattr(attn, "config", None)
    if getattr(config, "attn_logit_softcapping", None):
        raise TypeError(f"{type(attn).__name__} uses logit soft-capping, which this recomputation omits")


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Qwen2's `rotate_half`, copied so the recomputation does not depend on a private import."""
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _response_attention(
    module: nn.Module,
    q_all: torch.Tensor,  # [L, H * head_dim]: this sequence's q_proj output
    k_all: torch.Tensor,  # [L, KV * head_dim]: its k_proj output
    cos: torch.Tensor,  # [L, head_dim]
    sin: torch.Tensor,
    queries: torch.Tensor,  # absolute positions of the response rows [R]
    keys: torch.Tensor,  # absolute positions of the valid keys [T]
) -> torch.Tensor:
    """Attention probabilities of the response rows over the valid keys, per head: [H, R, T], fp32.

    Mirrors Qwen2Attention + eager_attention_forward from the projections on: optional per-head
    q_norm/k_norm (Qwen3), rotary in the model's dtype as the model does it (cos/sin sliced separately
    for the query rows and the key rows), then scores, scaling, mask and softmax in fp32. Grouped-query
    heads are handled by viewing the query heads as [kv_heads, groups] instead of materialising
    `repeat_kv`; head h uses kv head h // groups, which is exactly `repeat_kv`'s order.
    """
    import torch

    head_dim = int(module.head_dim)
    groups = int(module.num_key_value_groups)
    n_q, n_k = int(queries.numel()), int(keys.numel())

    n_heads, n_kv = q_all.shape[-1] // head_dim, k_all.shape[-1] // head_dim
    q = q_all.index_select(0, queries).view(n_q, n_heads, head_dim)
    k = k_all.index_select(0, keys).view(n_k, n_kv, head_dim)
    q_norm, k_norm = getattr(module, "q_norm", None), getattr(module, "k_norm", None)
    if q_norm is not None:
        q = q_norm(q)
    if k_norm is not None:
        k = k_norm(k)
    q = q.transpose(0, 1)  # [H, R, d]
    k = k.transpose(0, 1)  # [KV, T, d]
    cq, sq = cos.index_select(0, queries), sin.index_select(0, queries)
    ck, sk = cos.index_select(0, keys), sin.index_select(0, keys)
    q = q * cq + _rotate_half(q) * sq
    k = k * ck + _rotate_half(k) * sk

    # one batched matmul per kv head: its `groups` query heads stacked along the rows
    qf = q.float().reshape(n_kv, groups * n_q, head_dim)
    kf = k.float()
    scores = torch.bmm(qf, kf.transpose(1, 2)).mul_(float(module.scaling)).view(n_kv, groups, n_q, n_k)
    window = getattr(module, "sliding_window", None)
    if window:
        allowed = keys.unsqueeze(0) <= queries.unsqueeze(1)  # causal, [R, T]
        allowed &= keys.unsqueeze(0) > queries.unsqueeze(1) - int(window)
        scores.masked_fill_(~allowed, float("-inf"))
    else:
        # causality can only hide keys after the first response row: mask just those columns
        first = int(torch.searchsorted(keys, queries[:1], right=True)) if n_q else n_k
        if first < n_k:
            hidden = keys[first:].unsqueeze(0) > queries.unsqueeze(1)  # [R, T - first]
            scores[..., first:].masked_fill_(hidden, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return probs.reshape(n_kv * groups, n_q, n_k)


def capture_response_attention(
    model: nn.Module,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    response_start: int | Sequence[int],
    layers: LayerSpec = "deep",
    reduce: Reduce = "mean",
    **model_kwargs: Any,
) -> list[np.ndarray]:
    """One anchoring pass: per sequence, the response rows' attention over all its valid keys.

    `input_ids`/`attention_mask`: prompt + completion, right padding recommended (left padding works:
    positions are whatever the model computes; a None mask means every position is valid).
    `response_start`: the index of the first completion token in each row (an int for all rows, or one
    per row). `model_kwargs`: the model's other inputs, e.g. `input_features` and
    `feature_attention_mask` for Qwen2-Audio, or `inputs_embeds` (with `input_ids=None`) when `model` is
    a bare text decoder fed with audio embeddings already written at the placeholder positions.

    Returns one float32 array per sequence; with `reduce="mean"` (default) it is `[R, T]` — R response
    tokens, T valid tokens of that row, each row a distribution (sums to 1) averaged over the heads and
    the chosen layers. `reduce="layers"`: `[n_layers, R, T]`; `reduce="heads"`: `[n_layers, H, R, T]`.
    The model runs with whatever attention implementation it was loaded with (keep it SDPA/flash: no
    eager `[B, H, L, L]` tensors are made) and stops after the last chosen layer.
    """
    import torch

    if attention_mask is None:
        ref = input_ids if input_ids is not None else model_kwargs["inputs_embeds"][..., 0]
        attention_mask = torch.ones(ref.shape[:2], dtype=torch.long, device=ref.device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), AttentionRecorder(model, layers, reduce, stop_early=True) as rec:
            rec.arm(attention_mask, response_start)
            try:
                model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **model_kwargs)
            except _StopForward:
                pass
            return rec.maps()
    finally:
        model.train(was_training)
