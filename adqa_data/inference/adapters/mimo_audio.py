"""MiMo-Audio as a model family: its prompt, and the `LoadedModel` view the transformers backend, the
anchoring pass and the trainer use, with cached RVQ codes where other families take a waveform.

Why a family adapter rather than a separate code path: every pass of the toolkit (batched sampling with
a shared [system + clip] prefix, letter and option scoring, the hooked-attention anchoring pass, the
trainer's group layout) is written against `LoadedModel`: token embeddings, audio embeddings written at
placeholder positions, a headless Qwen2 decoder, an LM head applied where it is read. MiMo-Audio's text
side is exactly that shape once a speech group is seen as one placeholder token:

- the *clip* of a query is its codes `[n_q >= 8, frames]` (`Query.codes`), never a waveform;
- one `<|empty|>` placeholder per group of 4 frames (the text id of a speech group upstream), between
  the `<|sosp|>` and `<|eosp|>` text groups; `encode_audio` turns codes into one embedding per group
  (`MiMoAudioLM.speech_group_embeddings`), so the audio positions of the anchoring reward are the
  speech groups;
- the decoder is the Qwen2 backbone and the head is `lm_head`, which never offers `<|empty|>`: in a text
  answer that id would start a speech group, which a text-only policy cannot write (upstream's trained
  model gives it no mass there). The mask sits in the head, so sampling, scoring, the stored log-probs
  and the trainer's log-probs all see the same distribution.

Prompt (upstream's audio-understanding prompt, `inference/mimo/prompt.py`, with the prompt style's
system turn when it has one, as the DCASE 2026 MiMo-Audio report's think format asks):

    [<|im_start|>system\\n{system}<|im_end|>\\n] <|im_start|>user\\n <|sosp|> groups <|eosp|> {question + options}
    <|im_end|>\\n <|im_start|>assistant\\n [<think>\\n\\n</think>\\n]

Styles whose text asks for a `<think>` block end at the assistant turn, so the completion writes the
whole think-then-answer template the format reward checks; the others get upstream's empty think block
(its non-thinking mode), so their reply starts with the answer. Each segment is tokenized on its own, as
upstream does. Letters mode therefore follows the style (no `reply_opens_with` for the family): after the
empty think block it prefills the style's `letter_prefix`; a think style has none and is refused
(upstream's thinking mode, `<think>\n` then reasoning, answers only after it).

Dropout: the input local transformer has attention dropout 0.1 in the official config. It is set to 0
at load, so a training-mode forward computes the same function as the sampler (GRPO's importance
ratio starts at 1, and the prefix embeddings of a group do not change between passes).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import UserError, require
from ...mcq.prompt_styles import PromptStyle, get_style
from ..mimo.prompt import ASSISTANT_START, NO_THINKING, USER_END, USER_START, encode_segments, stop_token_ids
from ..types import Query
from .base import LoadedModel, ModelAdapter, PromptParts

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..mimo.model import MiMoAudioLM

SOSP, EOSP, EMPTY = "<|sosp|>", "<|eosp|>", "<|empty|>"
CODEC = "mimo-audio"  # the codec whose codes the model reads (the registry alias of the MiMo tokenizer)
CODEC_FAMILY = "mimo"
LM_CODEBOOKS = 8


def style_thinks(style: PromptStyle) -> bool:
    """Whether a style asks the model to reason in a `<think>` block (then the reply writes it)."""
    return "<think>" in f"{style.system or ''}\n{style.user}"


def system_head(system: str | None) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""


class MiMoAudioAdapter(ModelAdapter):
    """XiaomiMiMo/MiMo-Audio-7B (Instruct or Base): reads MiMo-Audio tokenizer codes, answers in text."""

    family = "mimo_audio"
    sample_rate = 24000  # the MiMo-Audio tokenizer's input rate (the codes were made from 24 kHz audio)
    audio_placeholder = EMPTY  # one per speech group once expanded
    default_system = None  # upstream's audio-understanding prompt has no system turn
    consumes = "codes"
    codec = CODEC
    hub_ids = ("XiaomiMiMo/MiMo-Audio-7B-Instruct", "XiaomiMiMo/MiMo-Audio-7B-Base")

    def segments(self, query: Query, style: str | PromptStyle | None = None) -> tuple[list[str], list[str]]:
        """The prompt's text segments before the audio block and after it (each tokenized on its own)."""
        st = get_style(style if style is not None else query.prompt_style)
        before = [system_head(self.system_prompt(st)), USER_START]
        after = [st.render(query.question, query.choices), USER_END, ASSISTANT_START]
        if not style_thinks(st):
            after.append(NO_THINKING)
        return [s for s in before if s], after

    def prompt_parts(self, query: Query, style: str | PromptStyle | None = None) -> PromptParts:
        before, after = self.segments(query, style)
        audio = f"{SOSP}{EMPTY}{EOSP}" if has_clip(query) else ""
        return PromptParts(prefix="".join(before) + audio, suffix="".join(after))

    def vllm_request(self, query: Query, style: str | PromptStyle | None = None) -> dict[str, Any]:
        raise UserError(
            "MiMo-Audio is not a vLLM model: its speech groups are embedded by this toolkit",
            fix="use the transformers backend, or serve it with vllm-omni (docs/mimo.md)",
        )

    def load_transformers(
        self, path: str | Path, device: str = "cpu", dtype: str = "float32", trust_remote_code: bool = False
    ) -> MiMoLoadedModel:
        require("torch", "models", "the MiMo-Audio policy")
        require("transformers", "models", "the MiMo-Audio policy")
        from ..mimo.loading import load_mimo_audio
        from ..mimo.model import MiMoSpecialTokens, load_tokenizer
        from .base import torch_dtype

        tok = load_tokenizer(
            path, "use a complete XiaomiMiMo/MiMo-Audio-7B download (tokenizer files included)"
        )
        torch_dt = torch_dtype("float32" if dtype == "auto" else dtype)
        lm = load_mimo_audio(
            path,
            device=device,
            dtype=torch_dt,
            text_only=True,
            special_tokens=MiMoSpecialTokens.from_tokenizer(tok, str(path)),
        )
        disable_dropout(lm)
        return MiMoLoadedModel(self, lm, tok)


def has_clip(query: Query) -> bool:
    return query.codes is not None or query.audio is not None


def disable_dropout(module: Any) -> None:
    """Attention dropout 0 everywhere (the input local transformer's is 0.1 in the official config)."""
    for m in module.modules():
        if isinstance(getattr(m, "attention_dropout", None), float):
            m.attention_dropout = 0.0
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "attention_dropout"):
            cfg.attention_dropout = 0.0


def _text_head(linear: Any, banned: list[int]) -> Any:
    """`lm_head` with `banned` ids at -inf (see the module docstring)."""
    import torch
    from torch import nn

    class TextHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = linear
            self.register_buffer("banned", torch.tensor(banned, dtype=torch.long), persistent=False)

        @property
        def weight(self) -> torch.Tensor:
            return self.linear.weight

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            logits = self.linear(hidden)
            return logits.index_fill(-1, self.banned.to(logits.device), float("-inf"))

    return TextHead()


class MiMoLoadedModel(LoadedModel):
    """MiMo-Audio seen as a `LoadedModel` whose clips are codes (module docstring). `module` is the
    `MiMoAudioLM`; `decoder` its Qwen2 backbone; `lm_head` the masked text head."""

    def __init__(self, adapter: MiMoAudioAdapter, lm: MiMoAudioLM, tokenizer: Any):
        super().__init__(
            adapter,
            lm,
            tokenizer,
            None,
            decoder=lm.model,
            lm_head=_text_head(lm.lm_head, [lm.special.empty]),
            audio_token_id=lm.special.empty,
        )
        self.special = lm.special
        self.group_size = lm.group_size
        self.empty_ids = tuple(lm.speech_empty_ids)
        self._eos = stop_token_ids(tokenizer)
        if not self._eos:
            raise UserError("the MiMo-Audio tokenizer has neither an eos token nor <|im_end|>", adapter.path)

    @property
    def lm(self) -> MiMoAudioLM:
        return self.module

    @property
    def device(self) -> torch.device:
        """The input side's device (the prefix embedder of the vLLM path loads only that side)."""
        return self.module.model.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.module.model.embed_tokens.weight.dtype

    @property
    def eos_token_ids(self) -> list[int]:
        """The tokenizer's eos and `<|im_end|>` (upstream's stopper)."""
        return list(self._eos)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.module.text_embeddings(input_ids)

    # ----------------------------------------------------------------------------------- the clip
    def clip(self, query: Query) -> np.ndarray | None:
        """The query's codes `[n_q >= 8, frames]`; a waveform is refused (this model reads codes)."""
        codes = query.codes
        if codes is None:
            if query.audio is not None:
                raise UserError(
                    f"query {query.key}: MiMo-Audio reads RVQ codes, and this query carries a waveform",
                    fix="encode the dataset with 'adqa-data encode --codec mimo-audio'; stages then read the codes",
                )
            return None
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[0] < LM_CODEBOOKS or c.shape[1] == 0:
            raise UserError(
                f"query {query.key}: codes of shape {c.shape}; MiMo-Audio reads [>= 8 codebooks, frames]",
                fix="encode with the MiMo-Audio tokenizer (--codec mimo-audio, 8 codebooks or more)",
            )
        return c

    def clip_token_count(self, clip: Any) -> int:
        """Speech groups: one per `group_size` (4) frames."""
        return -(-int(np.asarray(clip).shape[1]) // self.group_size)

    def audio_token_count(self, num_samples: int) -> int:
        raise TypeError("MiMo-Audio clips are codes: use clip_token_count(codes)")

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False) -> list[torch.Tensor]:
        """Per clip of codes, its speech-group embeddings `[groups, hidden]`. All clips' groups go through
        the input local transformer in one call (it attends within a group only)."""
        import torch

        from ..mimo.model import pad_codes

        if not clips:
            return []
        padded = [
            pad_codes(np.asarray(c), group_size=self.group_size, empty_ids=self.empty_ids) for c in clips
        ]
        codes = torch.from_numpy(np.concatenate(padded, axis=1)).to(self.device)[None]
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            emb = self.module.speech_group_embeddings(codes)[0].to(self.dtype)
        return list(emb.split([p.shape[1] // self.group_size for p in padded]))

    # ----------------------------------------------------------------------------------- prompts
    def prompt_token_ids(
        self, query: Query, style: str | PromptStyle | None = None
    ) -> tuple[list[int], list[int]]:
        """(prefix, suffix) ids: the prefix ends with `<|eosp|>` after one `<|empty|>` per speech group (no
        audio block without a clip); each text segment tokenized on its own, as upstream does."""
        before, after = self.adapter.segments(query, style)  # type: ignore[attr-defined]
        prefix = encode_segments(self.tokenizer, before)
        clip = self.clip(query)
        if clip is not None:
            prefix += (
                [self.special.sosp] + [self.special.empty] * self.clip_token_count(clip) + [self.special.eosp]
            )
        return prefix, encode_segments(self.tokenizer, after)
