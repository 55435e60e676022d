"""MiMo-Audio as a rollout, filter and eval policy: the `Backend` protocol on cached RVQ codes.

Why not upstream's `generate`: it runs one sequence at a time ("Only Supports batch_size=1"). Here the
MiMo family adapter (`inference/adapters/mimo_audio.py`) presents the model as a `LoadedModel` whose
clips are codes, and the transformers backend does the rest exactly as for the other families:

- the prompt's audio block becomes one embedding per speech group (4 codec frames), computed from the
  codes by the input local transformer, written at `<|empty|>` placeholder positions; everything after
  it is plain token embeddings, so decoding is an ordinary causal LM over `inputs_embeds`;
- rows are batched with explicit position ids counting real tokens only and a 2-D padding mask over
  [prompt | generated] in the KV cache (rather than left padding: the same function, and the layout
  every other family's rows already use); a row's numbers do not depend on its batch-mates;
- every completion has its own generator seeded from (`Sampling.seed`, `Query.key`, sample index), so
  outputs do not depend on batching, order or shard;
- `Completion.logprobs` are the sampler's: log-softmax of logits / temperature within the top-p
  nucleus, renormalised; a completion ending in the eos token or `<|im_end|>` keeps it (finish_reason
  "stop"), else "length";
- queries with the same `audio_id` (the silent condition) share one [system + clip] KV prefix;
- `score_letters` / `score_options` run one forward per prompt, so a MiMo model can sit on a filter panel;
- `anchoring_scorer` hooks attention on the backbone's deep Qwen2 layers (`inference/attention.py`) with
  the speech groups as the audio keys, so the CON / AR / ENT reward works as on the other families.

Queries must carry `Query.codes` (`consumes = "codes"`); a waveform is refused with how to encode. The
codes are the MiMo-Audio tokenizer's (`codec = "mimo-audio"`), first 8 RVQ layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.errors import UserError
from ..adapters.mimo_audio import MiMoAudioAdapter
from ..transformers_backend import TransformersBackend

if TYPE_CHECKING:  # pragma: no cover
    from .vllm import MiMoVLLMBackend

FAMILY = MiMoAudioAdapter.family


def is_mimo_checkpoint(model: str | Path | None, family: str | None = None) -> bool:
    """Whether `model` is a MiMo-Audio checkpoint: `family` says so, or its config.json names
    MiMoAudioModel / MiMoAudioForCausalLM. Reads config.json only."""
    if family is not None:
        return family == FAMILY
    if model is not None and str(model) in MiMoAudioAdapter.hub_ids:  # a hub id: MiMoBackend says to download
        return True
    if model is None or not (Path(model) / "config.json").is_file():
        return False
    import json

    from ..adapters import detect_family

    try:
        return detect_family(json.loads((Path(model) / "config.json").read_text())) == FAMILY
    except (OSError, ValueError):
        return False


class MiMoBackend(TransformersBackend):
    """The transformers backend with the MiMo-Audio family (module docstring). `model`: a local
    MiMo-Audio checkpoint folder (config.json, safetensors, tokenizer)."""

    name = "mimo_audio"  # `consumes` ("codes") and `codec` ("mimo-audio") come from the family adapter

    def __init__(self, model: str | Path, family: str | None = None, **options: Any):
        """`options`: `TransformersBackend`'s (device, dtype, batch limits ...), its defaults."""
        if family not in (None, FAMILY):
            raise UserError(f"MiMoBackend serves the {FAMILY} family, not {family!r}")
        if not Path(model).is_dir():
            raise UserError(
                f"MiMo-Audio needs a local checkpoint folder; {model} is not one",
                fix="download it first: hf download XiaomiMiMo/MiMo-Audio-7B-Instruct --local-dir ...",
            )
        options.pop("trust_remote_code", None)  # our own code: nothing remote to trust
        super().__init__(model, family=FAMILY, **options)


def load_mimo_backend(
    kind: str, model: str | Path | None, *, device: str, dtype: str, **options: Any
) -> MiMoBackend | MiMoVLLMBackend:
    """`load_backend`'s MiMo branch: the transformers backend above, or with `kind="vllm"` sampling on
    vLLM from prompt embeddings (`mimo/vllm.py`: the backbone exported as a plain Qwen2 checkpoint)."""
    if model is None:
        raise UserError("the MiMo-Audio backend needs a checkpoint folder", fix="pass --model DIR")
    options.pop("revision", None)  # a local folder: nothing to pin
    if kind == "vllm":
        from .vllm import MiMoVLLMBackend

        return MiMoVLLMBackend(model, device=device, dtype=dtype, **options)
    return MiMoBackend(model, device=device, dtype=dtype, **options)
