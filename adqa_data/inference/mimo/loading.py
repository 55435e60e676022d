"""Reading an official MiMo-Audio checkpoint folder into `MiMoAudioLM` by its key names, strictly: the
shard index, the key check (missing, unexpected or misshapen tensors are an error naming them), the
weights moved to the device, and the rotary tables rebuilt there."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding

from ...core.errors import UserError
from .model import SPEECH_OUTPUT_PREFIXES, MiMoAudioConfig, MiMoAudioLM, MiMoSpecialTokens


def _checkpoint_index(path: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file, from model.safetensors.index.json or a single model.safetensors."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map")
        if not isinstance(weight_map, dict):
            raise UserError("model.safetensors.index.json has no weight_map", str(index))
        files = {f: path / f for f in set(weight_map.values())}
        absent = sorted(f for f, p in files.items() if not p.is_file())
        if absent:
            raise UserError(f"shards named by the index are missing: {absent}", str(path))
        return {k: files[f] for k, f in weight_map.items()}
    single = path / "model.safetensors"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as f:
            return dict.fromkeys(f.keys(), single)
    raise UserError(
        f"no model.safetensors or model.safetensors.index.json in {path}",
        str(path),
        "download the checkpoint's safetensors files",
    )


def _name_keys(keys: set[str], limit: int = 20) -> str:
    ks = sorted(keys)
    return ", ".join(ks[:limit]) + (f", ... ({len(ks)} in all)" if len(ks) > limit else "")


def _rebuild_rotary(model: nn.Module, device: torch.device | str) -> None:
    """Rotary tables are non-persistent buffers: recompute them in float32 on `device` (after building
    on the meta device; and so that a bfloat16 model keeps float32 inverse frequencies, as upstream's)."""
    for name, mod in list(model.named_modules()):
        if isinstance(mod, Qwen2RotaryEmbedding):
            parent = model.get_submodule(name.rpartition(".")[0])
            setattr(parent, name.rpartition(".")[2], Qwen2RotaryEmbedding(config=mod.config).to(device))


def load_mimo_audio(
    path: str | Path,
    *,
    device: str | torch.device,
    dtype: torch.dtype,
    text_only: bool = True,
    attn_implementation: str = "sdpa",
    special_tokens: MiMoSpecialTokens | None = None,
) -> MiMoAudioLM:
    """Load an official MiMo-Audio checkpoint folder (config.json, model.safetensors or sharded with
    model.safetensors.index.json, tokenizer) by its key names, strictly.

    With `text_only` the keys under `SPEECH_OUTPUT_PREFIXES` are skipped (not read); every other key must
    match the model exactly: missing or unexpected keys, or a wrong shape, raise `UserError` naming the
    path and the keys. `special_tokens` defaults to the ids in the folder's tokenizer. Returns the model in
    eval mode on `device`, parameters in `dtype`.
    """
    path = Path(path)
    config = MiMoAudioConfig.from_pretrained(path, attn_implementation)
    special = special_tokens if special_tokens is not None else MiMoSpecialTokens.from_pretrained(path)
    index = _checkpoint_index(path)
    with torch.device("meta"):
        model = MiMoAudioLM(config, special, text_only=text_only)
    expected = model.state_dict()
    present = {k for k in index if not (text_only and k.startswith(SPEECH_OUTPUT_PREFIXES))}
    missing, unexpected = set(expected) - present, present - set(expected)
    if missing or unexpected:
        parts = [f"missing keys: {_name_keys(missing)}"] if missing else []
        parts += [f"unexpected keys: {_name_keys(unexpected)}"] if unexpected else []
        raise UserError(
            f"the checkpoint does not match MiMo-Audio's layout for this config.json ({'; '.join(parts)})",
            str(path),
            "use an unmodified XiaomiMiMo/MiMo-Audio-7B checkpoint folder",
        )

    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    by_file: dict[Path, list[str]] = {}
    for k in sorted(present):
        by_file.setdefault(index[k], []).append(k)
    dev = str(torch.device(device))
    for file, keys in by_file.items():
        with safe_open(str(file), framework="pt", device=dev) as f:
            for k in keys:
                t = f.get_tensor(k)
                if t.shape != expected[k].shape:
                    raise UserError(
                        f"tensor {k} has shape {tuple(t.shape)}, config.json implies {tuple(expected[k].shape)}",
                        str(file),
                    )
                state[k] = t.to(dtype)
    model.load_state_dict(state, strict=True, assign=True)
    _rebuild_rotary(model, device)
    return model.eval()
