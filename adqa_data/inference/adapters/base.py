"""The model-adapter contract: what a backend needs to know about one LALM family.

An adapter owns three things a backend must not guess: the chat format (system turn, where the audio
goes, where the assistant turn starts), the audio placeholder, and the audio front end. It is small and
stateless apart from an optional checkpoint path (the generic adapter reads its chat template there).

Both backends use it:
- vLLM: `vllm_request(query)` gives `{"prompt": str, "multi_modal_data": {"audio": (array, sr)}}`, the
  prompt holding ONE placeholder per clip (vLLM expands it); `vllm_engine_kwargs()` and
  `vllm_sampling_kwargs()` give what `LLM(...)` / `SamplingParams(...)` need beyond the model path.
- transformers: `load_transformers(path, device, dtype)` returns a `LoadedModel`: the text decoder,
  the LM head, token embeddings, and `encode_audio` (clip -> one embedding per audio token), so the
  backend can build inputs itself, run [system + clip] once, and apply the LM head only where it reads.

`prompt_parts(query)` splits the prompt at the end of the audio block, always right after a special
token, so tokenizing the two parts separately gives exactly the tokens of the whole (the backend checks
this). Everything up to the split is identical for queries with equal audio and system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...core.errors import UserError, require
from ...mcq.prompt_styles import PromptStyle, get_style
from ..types import Query

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class PromptParts:
    """A chat-formatted prompt with one audio placeholder, split after the audio block.

    `prefix`: system turn + start of the user turn + the audio block (shared by queries with the same
    audio and system prompt). `suffix`: the question text, end of the user turn, start of the assistant
    turn. `prefix + suffix` is the full prompt, ending where the assistant's reply begins."""

    prefix: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.suffix


class ModelAdapter:
    """Base class of the family adapters. Subclasses set the class attributes and `_wrap`."""

    family: ClassVar[str]
    sample_rate: ClassVar[int] = 16000
    audio_placeholder: ClassVar[str]  # written once per clip in a prompt; expanded by the tokenizing side
    default_system: ClassVar[str | None] = "You are a helpful assistant."
    transformers_support: ClassVar[bool] = True
    vllm_trust_remote_code: ClassVar[bool] = False
    hub_ids: ClassVar[tuple[str, ...]] = ()  # public checkpoints of this family, for docs and panels
    # How the family's replies open whatever the prompt asks ("letter" | "answer_tag" | "think"), and the
    # same per known checkpoint (hub id -> opening); None / absent = the reply follows the prompt style.
    # Letters mode prefills the reply up to the letter from these (`inference.letter_position`).
    reply_opens_with: ClassVar[str | None] = None
    checkpoint_openings: ClassVar[dict[str, str]] = {}
    # What a query's clip must be: "audio" (`Query.audio`, a waveform at `sample_rate`) or "codes"
    # (`Query.codes`, from the code cache of the codec `codec` names: MiMo-Audio).
    consumes: ClassVar[str] = "audio"
    codec: ClassVar[str | None] = None
    # For `_load_audio_lm`: the transformers model class and the config attribute holding the placeholder id.
    transformers_class: ClassVar[str]
    audio_token_attr: ClassVar[str]

    def __init__(self, path: str | Path | None = None):
        self.path = str(path) if path is not None else None

    # ------------------------------------------------------------------------------------ prompts
    def system_prompt(self, style: PromptStyle) -> str | None:
        return style.system if style.system is not None else self.default_system

    def prompt_parts(self, query: Query, style: str | PromptStyle | None = None) -> PromptParts:
        """The prompt of `query` in this family's chat format, split after the audio block."""
        st = get_style(style if style is not None else query.prompt_style)
        user_text = st.render(query.question, query.choices)
        return self._wrap(self.system_prompt(st), user_text, has_audio=query.audio is not None)

    def build_prompt(self, query: Query, style: str | PromptStyle | None = None) -> str:
        """The full prompt text (one placeholder per clip), ending where the assistant's reply begins."""
        return self.prompt_parts(query, style).text

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- vLLM
    def vllm_request(self, query: Query, style: str | PromptStyle | None = None) -> dict[str, Any]:
        """One vLLM prompt dict: the prompt string and, when the query has audio, `(array, sample_rate)`."""
        req: dict[str, Any] = {"prompt": self.build_prompt(query, style)}
        if query.audio is not None:
            req["multi_modal_data"] = {"audio": (np.asarray(query.audio, dtype=np.float32), self.sample_rate)}
        return req

    def vllm_engine_kwargs(self) -> dict[str, Any]:
        """Extra `vllm.LLM(...)` arguments this family needs (the backend adds model, dtype, caching...)."""
        return {"limit_mm_per_prompt": {"audio": 1}, "trust_remote_code": self.vllm_trust_remote_code}

    def vllm_sampling_kwargs(self) -> dict[str, Any]:
        """Extra `SamplingParams(...)` arguments (e.g. stop token ids the checkpoint's config lacks)."""
        return {}

    # ------------------------------------------------------------------------------- transformers
    @staticmethod
    def _from_pretrained(
        class_name: str,
        path: str | Path,
        device: str,
        dtype: str,
        trust_remote_code: bool,
        ignore_unexpected: tuple[str, ...] = (),
    ):
        """The model (eval mode, on `device`) and tokenizer every transformers adapter starts from.

        The load is strict: a weight the checkpoint lacks (it would be randomly initialised), one the
        model does not have, or one of another shape is an error naming the path. `ignore_unexpected`
        names key prefixes a family's checkpoints carry for parts it does not load (Omni's talker)."""
        from ...core.strict_loading import check_loading_info

        transformers = require("transformers", "models", "the transformers backend")
        model, info = getattr(transformers, class_name).from_pretrained(
            str(path), dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code, output_loading_info=True
        )
        info = dict(info)
        info["unexpected_keys"] = {
            k for k in info.get("unexpected_keys") or () if not k.startswith(ignore_unexpected)
        }
        check_loading_info(info, str(path), f"{class_name} checkpoint")
        model = model.to(device).eval()
        tok = transformers.AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        return model, tok

    def _load_audio_lm(
        self,
        loaded_cls: type[LoadedModel],
        path: str | Path,
        device: str,
        dtype: str,
        trust_remote_code: bool,
    ) -> LoadedModel:
        """The load Qwen2-Audio and Audio Flamingo 3 share: a `transformers_class` checkpoint whose text
        model is `model.model.language_model`, its feature extractor saved beside it, and the placeholder
        id in `config.<audio_token_attr>` (both class attributes of the adapter)."""
        transformers = require("transformers", "models", "the transformers backend")
        model, tok = self._from_pretrained(self.transformers_class, path, device, dtype, trust_remote_code)
        fe = transformers.AutoFeatureExtractor.from_pretrained(str(path))
        return loaded_cls(
            self,
            model,
            tok,
            fe,
            decoder=model.model.language_model,
            lm_head=model.lm_head,
            audio_token_id=getattr(model.config, self.audio_token_attr),
        )

    def load_transformers(
        self, path: str | Path, device: str = "cpu", dtype: str = "float32", trust_remote_code: bool = False
    ) -> LoadedModel:
        raise UserError(
            f"the {self.family!r} family has no transformers implementation here",
            fix="run this model with the vllm backend",
        )


def torch_dtype(dtype: str):
    torch = require("torch", "models", "the transformers backend")
    if dtype == "auto":
        return "auto"
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[dtype]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r}", fix="use float32, bfloat16, float16 or auto") from None


class LoadedModel:
    """A checkpoint loaded in transformers, seen the way the transformers backend and the anchoring
    pass use it (one per family: `<Family>LoadedModel`; a variable holding one is called `model`).

    The backend never calls the model's own `forward`: it embeds tokens, writes audio embeddings at the
    placeholder positions, runs `decoder` (the text model: `inputs_embeds`, `attention_mask`,
    `position_ids`, `past_key_values`, `use_cache`) and applies `lm_head` to the hidden states it reads.
    Positions are plain 0..L-1 for every family here: Qwen2.5-Omni's 3-D rotary positions reduce to that
    when the prompt has audio and text only (transformers `get_rope_index`).
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        module,
        tokenizer,
        feature_extractor,
        decoder,
        lm_head,
        audio_token_id: int,
    ):
        self.adapter = adapter
        self.module = module  # the checkpoint's own top-level torch module
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.decoder = decoder
        self.lm_head = lm_head
        self.audio_token_id = int(audio_token_id)

    @property
    def device(self):
        return self.lm_head.weight.device

    @property
    def dtype(self):
        return self.lm_head.weight.dtype

    @property
    def eos_token_ids(self) -> list[int]:
        """Token ids that end a reply (generation config's eos, else the tokenizer's)."""
        eos = getattr(getattr(self.module, "generation_config", None), "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.module.get_input_embeddings()(input_ids)

    def tokenize(self, text: str, num_audio_tokens: int | None = None) -> list[int]:
        """Token ids of prompt text, with its one audio placeholder expanded to `num_audio_tokens`."""
        ph = self.adapter.audio_placeholder
        if num_audio_tokens is not None:
            if text.count(ph) != 1:
                raise ValueError(f"expected one {ph} in the prompt, found {text.count(ph)}")
            text = text.replace(ph, ph * num_audio_tokens)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def prompt_token_ids(
        self, query: Query, style: str | PromptStyle | None = None
    ) -> tuple[list[int], list[int]]:
        """The prompt of `query` as token ids, in two parts (`prompt_parts`): the prefix with the audio
        placeholder expanded to the clip's token count, and the suffix. The transformers backend and
        the trainer both build prompts here, so a trained completion follows the prompt it was sampled after."""
        parts = self.adapter.prompt_parts(query, style)
        clip = self.clip(query)
        n_audio = self.clip_token_count(clip) if clip is not None else None
        return self.tokenize(parts.prefix, n_audio), self.tokenize(parts.suffix)

    def clip(self, query: Query) -> Any:
        """The clip of `query` as `encode_audio` takes it, or None: here the waveform (`query.audio`) at
        the adapter's rate. A family that reads codes (MiMo-Audio) returns `query.codes` instead."""
        return None if query.audio is None else np.asarray(query.audio, dtype=np.float32)

    def clip_token_count(self, clip: Any) -> int:
        """How many placeholder tokens a clip (as `clip` returns it) becomes."""
        return self.audio_token_count(len(clip))

    def embed_with_audio(
        self,
        input_ids: torch.Tensor,
        clips: list | None = None,
        audio: torch.Tensor | None = None,
        where: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token embeddings of `input_ids` with audio embeddings written at the placeholder positions,
        in row order: `audio` ([placeholders, hidden]) when given, else encoded from `clips` (one per
        row that has audio; None entries are skipped). `where` (bool, shaped like `input_ids`) names
        the placeholder positions when not every placeholder token is one: a sampled completion may
        contain the placeholder token, and the sampler embedded it as a plain token."""
        import torch

        emb = self.embed(input_ids)
        if audio is None:
            clips = [c for c in (clips or []) if c is not None]
            if not clips:
                return emb
            audio = torch.cat(self.encode_audio(clips))
        if where is None:
            where = input_ids == self.audio_token_id
        if int(where.sum()) != audio.shape[0]:
            raise RuntimeError(f"{int(where.sum())} audio placeholders but {audio.shape[0]} audio embeddings")
        return emb.masked_scatter(where[..., None], audio.to(emb.dtype))

    def audio_token_count(self, num_samples: int) -> int:
        """How many placeholder tokens a clip of `num_samples` samples becomes."""
        raise NotImplementedError

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False) -> list[torch.Tensor]:
        """Per clip, its audio embeddings `[audio_token_count, hidden]` in the decoder's dtype. `grad`
        keeps the autograd graph (a trainer that trains the audio encoder); off, nothing is recorded."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop the model's tensors so the memory can be reused by the next panel member."""
        import gc

        self.module = self.decoder = self.lm_head = None  # type: ignore[assignment]
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


def whisper_features(feature_extractor, clips: list[np.ndarray], sample_rate: int):
    """Whisper log-mel features padded to the 30 s window, with the frame mask (Qwen2-Audio / Omni).
    Clips longer than 30 s are cut to 30 s, as the families' own processors do."""
    return feature_extractor(
        [np.asarray(c, dtype=np.float32) for c in clips],
        sampling_rate=sample_rate,
        return_attention_mask=True,
        padding="max_length",
        return_tensors="pt",
    )


def whisper_token_count(num_samples: int, hop_length: int = 160, max_frames: int = 3000) -> int:
    """Audio tokens of a Whisper-style encoder with 2x conv and 2x pooling strides: 25 per second."""
    frames = min(-(-int(num_samples) // hop_length), max_frames)
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1
