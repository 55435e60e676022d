"""Any other audio chat model, driven by its own chat template (vLLM only).

The prompt is the checkpoint's chat template rendered with a system message (when the style or the
caller gives one) and a user message of [audio, text] parts; the template decides where the audio
placeholder goes. The placeholder string is the processor's `audio_token` unless given. Reading the
template needs the checkpoint's tokenizer/processor files, so this adapter is built with a path.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from ...core.errors import UserError, require
from .base import ModelAdapter, PromptParts

_SENTINEL = "\x00ADQA_USER_TEXT\x00"


class GenericAdapter(ModelAdapter):
    family = "generic"
    audio_placeholder = "<|AUDIO|>"
    default_system = None
    transformers_support = False

    def __init__(
        self,
        path: str | Path | None = None,
        audio_placeholder: str | None = None,
        trust_remote_code: bool = False,
    ):
        super().__init__(path)
        self.trust_remote_code = trust_remote_code
        if audio_placeholder is not None:
            self.audio_placeholder = audio_placeholder  # type: ignore[misc]
        elif path is not None:
            token = getattr(self._processor, "audio_token", None)
            if isinstance(token, str):
                self.audio_placeholder = token  # type: ignore[misc]

    @cached_property
    def _processor(self):
        if self.path is None:
            raise UserError("the generic adapter needs the checkpoint path to read its chat template")
        transformers = require("transformers", "models", "the generic model adapter")
        try:
            return transformers.AutoProcessor.from_pretrained(
                self.path, trust_remote_code=self.trust_remote_code
            )
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
        ):  # no processor: a tokenizer with a template is enough
            return transformers.AutoTokenizer.from_pretrained(
                self.path, trust_remote_code=self.trust_remote_code
            )

    @cached_property
    def _special_tokens(self) -> list[str]:
        tok = getattr(self._processor, "tokenizer", self._processor)
        return [t for t in getattr(tok, "all_special_tokens", []) if t]

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": system})
        content: list[dict[str, Any]] = [{"type": "audio"}] if has_audio else []
        content.append({"type": "text", "text": _SENTINEL})
        messages.append({"role": "user", "content": content})
        text = self._processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if text.count(_SENTINEL) != 1:
            raise UserError(f"the chat template of {self.path} does not render the user text once")
        before, after = text.split(_SENTINEL)
        if has_audio and before.count(self.audio_placeholder) != 1:
            raise UserError(
                f"the chat template of {self.path} does not put one {self.audio_placeholder!r} before the text",
                fix="pass audio_placeholder= the string the template writes for an audio part",
            )
        if has_audio:  # split after the placeholder and any special tokens right after it (<|audio_eos|>)
            cut = before.index(self.audio_placeholder) + len(self.audio_placeholder)
            specials = sorted(self._special_tokens, key=len, reverse=True)
            while (nxt := next((t for t in specials if before.startswith(t, cut)), None)) is not None:
                cut += len(nxt)
            return PromptParts(prefix=before[:cut], suffix=before[cut:] + user_text + after)
        return PromptParts(prefix=before, suffix=user_text + after)

    def vllm_engine_kwargs(self) -> dict[str, Any]:
        return {"limit_mm_per_prompt": {"audio": 1}, "trust_remote_code": self.trust_remote_code}
