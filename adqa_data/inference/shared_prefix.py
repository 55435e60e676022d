"""Attention over [one shared prefix | each row's own tokens] without copying the prefix per row.

The silent condition asks every question after the same [system + silence] prefix. The obvious way to
batch the questions against its KV cache copies the prefix keys and values into every row (and, with
grouped-query attention, copies them again per query head): B x 800 tokens of K and V per layer per
pass, which on a CPU costs as much memory traffic as the questions' own compute, and on a GPU gigabytes
per batch for a 7B model.

Here the prefix stays one [1, kv_heads, P, d] tensor per layer. Attention is split in two and merged
exactly by log-sum-exp (as in cascade / Hydragen attention):
  1. every query of every row against the prefix: the rows and the query heads that share a kv head are
     folded into one long query sequence, so this is one large attention per kv head, no mask;
  2. each row's queries against the row's own keys (the cache holds only these), causal, with the 2-D
     padding mask the caller passed;
  out = (e^{l1} o1 + e^{l2} o2) / (e^{l1} + e^{l2}), computed stably.
On CPU both parts use PyTorch's flash kernel, which returns the log-sum-exp; elsewhere an exact
reference implementation is used.

It is installed as a transformers attention implementation (`AttentionInterface`), switched on only
for the decoder's passes that carry `adqa_prefix=[(keys, values) per layer]`. transformers creates no
mask for a custom implementation (it passes None), so the caller's 2-D padding mask over the rows' own
tokens travels as `adqa_mask`; causality is applied here.
"""

from __future__ import annotations

from contextlib import contextmanager

NAME = "adqa_shared_prefix"
_registered = False


def register() -> None:
    global _registered
    if not _registered:
        from transformers import AttentionInterface

        AttentionInterface.register(NAME, shared_prefix_attention)
        _registered = True


@contextmanager
def enabled(config):
    """Route a text decoder's attention through `shared_prefix_attention` for the enclosed calls."""
    register()
    old = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = old


def _attend(q, k, v, scale: float, mask=None, causal: bool = False):
    """Attention output [B, H, S, D] and its log-sum-exp [B, H, S] (fp32). `mask`: bool, True = attend."""
    import torch

    if q.device.type == "cpu" and q.dtype in (torch.float32, torch.bfloat16):
        bias = None
        if mask is not None:
            bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill_(~mask, float("-inf"))
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, attn_mask=bias, scale=scale
        )
        return out, lse.float()
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    if causal:
        S, K = scores.shape[-2:]
        tri = torch.ones(S, K, dtype=torch.bool, device=q.device).tril(K - S)
        mask = tri if mask is None else (mask & tri)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - lse[..., None]).nan_to_num(0.0)
    return torch.matmul(probs, v.float()).to(q.dtype), lse


def shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention-function signature; `kwargs["adqa_prefix"]` holds the prefix per layer."""
    import torch

    prefix = kwargs.get("adqa_prefix")
    # transformers skips mask creation for a custom implementation and passes None; the caller's 2-D
    # padding mask over the row's own tokens travels as `adqa_mask`
    attention_mask = kwargs.get("adqa_mask", attention_mask)
    if prefix is None:
        raise RuntimeError(f"{NAME} attention called without adqa_prefix")
    pk, pv = prefix[module.layer_idx]  # [1, Hkv, P, D]
    B, H, S, D = query.shape
    Hkv = pk.shape[1]
    G = H // Hkv
    scale = scaling if scaling is not None else D**-0.5

    # 1. all rows' queries against the one prefix (query head h uses kv head h // G, as repeat_kv does)
    qg = query.reshape(B, Hkv, G, S, D).permute(1, 0, 2, 3, 4).reshape(1, Hkv, B * G * S, D)
    o1, l1 = _attend(qg, pk.to(query.dtype), pv.to(query.dtype), scale)
    o1 = o1.reshape(Hkv, B, G, S, D).permute(1, 0, 2, 3, 4).reshape(B, H, S, D)
    l1 = l1.reshape(Hkv, B, G, S).permute(1, 0, 2, 3).reshape(B, H, S)

    # 2. each row against its own keys (everything after the prefix), causal + the caller's padding mask
    k2 = key.repeat_interleave(G, dim=1) if G > 1 else key
    v2 = value.repeat_interleave(G, dim=1) if G > 1 else value
    K2 = k2.shape[2]
    if attention_mask is None:
        mask, causal = None, S > 1
        if causal and K2 != S:  # queries are the last S of K2 keys: build the offset causal mask
            mask = torch.ones(S, K2, dtype=torch.bool, device=query.device).tril(K2 - S)[None, None]
            causal = False
    else:
        if attention_mask.ndim != 2:
            raise RuntimeError(f"{NAME} expects a 2-D padding mask, got shape {tuple(attention_mask.shape)}")
        real = attention_mask[:, -K2:].bool()[:, None, None, :]  # [B, 1, 1, K2]
        tri = torch.ones(S, K2, dtype=torch.bool, device=query.device).tril(K2 - S)[None, None]
        mask, causal = real & tri, False
    o2, l2 = _attend(query, k2, v2, scale, mask=mask, causal=causal)

    # 3. exact merge by log-sum-exp; a row with nothing to see in part 2 gets weight 0 there
    m = torch.maximum(l1, l2)
    w1 = torch.exp(l1 - m)[..., None]
    w2 = torch.exp(l2 - m).nan_to_num(0.0)[..., None]
    o2 = torch.where(torch.isfinite(l2)[..., None], o2.float(), torch.zeros((), device=o2.device))
    out = (o1.float() * w1 + o2 * w2) / (w1 + w2)
    return out.to(query.dtype).transpose(1, 2).contiguous(), None
