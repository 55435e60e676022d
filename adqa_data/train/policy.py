"""The policy under training: a checkpoint loaded through its family adapter, the parameters that train,
and the forward that scores stored completions.

Which parameters train: the text decoder (embeddings included) and the LM head; the audio encoder and
its projector stay frozen unless `train_audio` (the DCASE reports train the language side). With
`lora`, only LoRA adapters on the decoder's linear layers train (peft), and the reference policy is the
same module with the adapter disabled, so no second copy is held.

`PolicyModule.forward` returns the log-probability of every stored completion token under the current
weights, at the sampler's temperature (logits / T before the softmax, as TRL scores them), with the
clip's audio embeddings at the placeholder positions — the inputs the sampler had. It runs the decoder
headless on the group layout of `data.Collator` and applies the LM head only at the positions that
predict a completion token. It is an `nn.Module` so that accelerate can wrap it (DDP, DeepSpeed) and
gradients are synchronised through its forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import UserError
from ..inference.adapters import adapter_for_model
from ..inference.adapters.base import LoadedModel
from .collate import Batch

ATTENTION = ("sdpa", "eager")


@dataclass
class LoadedPolicy:
    """A loaded checkpoint (`model`: the adapter's view of it) and the module that trains (`module`)."""

    model: LoadedModel
    module: PolicyModule
    path: str
    family: str
    lora: bool


def load_model(
    path: str | Path,
    family: str | None = None,
    device: str = "cpu",
    attn_implementation: str = "sdpa",
    dtype: str = "float32",
) -> LoadedModel:
    """The checkpoint, float32 by default (training keeps fp32 weights; bf16 comes from autocast), with
    the decoder in train mode and the audio side in eval mode."""
    adapter = adapter_for_model(path, family)
    model = adapter.load_transformers(str(path), device, dtype)
    if model.decoder.config._attn_implementation != attn_implementation:
        model.module.set_attn_implementation(attn_implementation)
    impl = model.decoder.config._attn_implementation
    if impl not in ATTENTION:
        raise UserError(
            f"attention implementation {impl!r} cannot take the trainer's 4-D group mask",
            fix="use attn_implementation: sdpa (or eager)",
        )
    # the audio side is frozen unless trained: keep it in eval mode (Whisper-style encoders have layer drop);
    # the decoder in train mode (gradient checkpointing only acts in training mode; its dropout is 0)
    model.module.eval()
    model.decoder.train()
    return model


def decoder_linear_names(model: LoadedModel) -> list[str]:
    """Full names (in the checkpoint's module) of the decoder's linear layers: the LoRA targets."""
    prefix = next(name for name, m in model.module.named_modules() if m is model.decoder)
    return [
        f"{prefix}.{name}" if prefix else name
        for name, m in model.decoder.named_modules()
        if isinstance(m, nn.Linear)
    ]


def set_trainable(
    model: LoadedModel,
    *,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.0,
    train_audio: bool = False,
) -> nn.Module:
    """Freeze what does not train; returns the module that holds the trainable parameters (the peft
    model with `lora`, else the checkpoint's own module)."""
    module = model.module
    module.requires_grad_(False)
    net: nn.Module = module
    if lora:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise UserError("LoRA training needs the Python package 'peft'", fix="pip install peft") from None
        config = LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            bias="none",
            target_modules=decoder_linear_names(model),
        )
        net = get_peft_model(module, config)  # injects adapters into `module` in place; only they train
    else:
        model.decoder.requires_grad_(True)
        model.lm_head.requires_grad_(True)
    if train_audio:
        language = {id(p) for p in model.decoder.parameters()} | {id(p) for p in model.lm_head.parameters()}
        for p in module.parameters():
            if id(p) not in language:
                p.requires_grad_(True)
    return net


class PolicyModule(nn.Module):
    """Per-token log-probs of stored completions (module docstring). `net` is registered (its parameters
    are this module's); `model` is the adapter's view of the same weights (decoder, head, audio)."""

    def __init__(self, model: LoadedModel, net: nn.Module, train_audio: bool = False):
        super().__init__()
        self.net = net
        self.model = model  # not a module: a view onto `net`'s submodules
        self.train_audio = train_audio

    def audio_embeddings(self, clips: list, cached: torch.Tensor | None) -> torch.Tensor | None:
        """The clips' audio embeddings, one row per placeholder; reused from `cached` when the audio side
        is frozen (they cannot change then)."""
        if not clips:
            return None
        if cached is not None and not self.train_audio:
            return cached
        # the feature extractors compute on the CPU and cannot return bf16: keep CPU autocast off here
        # (a CUDA autocast still covers the encoder on a GPU)
        with torch.autocast("cpu", enabled=False):
            return torch.cat(
                self.model.encode_audio(clips, grad=self.train_audio and torch.is_grad_enabled())
            )

    def forward(
        self, inputs: dict[str, Any], temperature: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`inputs` = `Batch.inputs()`. Returns the log-probs `[N, T]` (0 where masked) and the audio
        embeddings used (to cache for the next pass over the same batch)."""
        ids = inputs["input_ids"]
        audio = self.audio_embeddings(inputs["clips"], inputs.get("audio_embeds"))
        embeds = self.model.embed_with_audio(ids, audio=audio, where=inputs.get("audio_positions"))
        allowed = inputs["allowed"][:, None]
        if self.model.decoder.config._attn_implementation == "eager":  # eager adds the mask to the scores
            allowed = torch.zeros(allowed.shape, dtype=embeds.dtype, device=ids.device).masked_fill(
                ~allowed, torch.finfo(embeds.dtype).min
            )
        hidden = self.model.decoder(
            inputs_embeds=embeds, attention_mask=allowed, position_ids=inputs["position_ids"], use_cache=False
        ).last_hidden_state
        mask = inputs["mask"].bool()
        states = hidden.reshape(-1, hidden.shape[-1])[inputs["pred_index"][mask]]
        logits = self.model.lm_head(states).float() / temperature
        picked = logits.gather(1, inputs["targets"][mask][:, None]).squeeze(1) - logits.logsumexp(-1)
        logp = torch.zeros(mask.shape, dtype=picked.dtype, device=picked.device).masked_scatter(mask, picked)
        return logp, None if audio is None else audio.detach()


def batch_inputs(batch: Batch) -> dict[str, Any]:
    """The tensors (and clips) of a batch that `PolicyModule.forward` reads."""
    return {
        "input_ids": batch.input_ids,
        "position_ids": batch.position_ids,
        "allowed": batch.allowed,
        "pred_index": batch.pred_index,
        "targets": batch.targets,
        "mask": batch.mask,
        "clips": batch.clips,
        "audio_positions": batch.audio_positions,
        "audio_embeds": batch.audio_embeds,
    }


def load_policy(
    path: str | Path,
    *,
    family: str | None = None,
    device: str = "cpu",
    attn_implementation: str = "sdpa",
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.0,
    train_audio: bool = False,
    gradient_checkpointing: bool = False,
) -> LoadedPolicy:
    """Load a checkpoint for training (see the module docstring)."""
    model = load_model(path, family, device, attn_implementation)
    net = set_trainable(
        model,
        lora=lora,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        train_audio=train_audio,
    )
    if train_audio:
        model.module.train()
    if gradient_checkpointing:
        # non-reentrant checkpointing needs no input that requires grad (frozen embeddings under LoRA)
        model.module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return LoadedPolicy(model, PolicyModule(model, net, train_audio), str(path), model.adapter.family, lora)


def frozen_reference(model: LoadedModel) -> PolicyModule:
    """`model` (the starting checkpoint, loaded again with `load_model`) frozen: the KL reference of a
    full fine-tune (load it in bf16 on a GPU: it never trains, so it needs no fp32 copy)."""
    model.module.requires_grad_(False).eval()
    return PolicyModule(model, model.module).eval()
