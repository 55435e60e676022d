"""MiMo-Audio's audio-understanding prompt, as upstream builds it (XiaomiMiMo/MiMo-Audio,
`MimoAudio.get_audio_understanding_sft_prompt` in `src/mimo_audio/mimo_audio.py`).

Upstream has no chat template and no system turn for this task. The prompt is a list of segments, each
text segment tokenized on its own (`add_special_tokens=False`) and the ids concatenated:

    "<|im_start|>user\\n" | <|sosp|> [one speech group per 4 frames] <|eosp|> | question |
    "<|im_end|>\\n" | "<|im_start|>assistant\\n" | "<think>\\n\\n</think>\\n"   (thinking: "<think>\\n")

The audio segment is `<|sosp|>` and `<|eosp|>` text groups around the speech groups (whose text id is
`<|empty|>`); `MiMoAudioLM.build_prefix(before, codes, after)` adds them, so `before`/`after` here are
the text on either side. Tokenizing segment by segment matters: the joined string can tokenize
differently at the boundaries. Generation stops at the tokenizer's eos token or `<|im_end|>`
(upstream's `MiMoStopper`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

USER_START = "<|im_start|>user\n"
USER_END = "<|im_end|>\n"
ASSISTANT_START = "<|im_start|>assistant\n"
NO_THINKING = "<think>\n\n</think>\n"
THINKING = "<think>\n"
# Tokens upstream's MimoAudio adds to the tokenizer when absent (the official tokenizer has them).
SPECIAL_TOKENS = (
    "<|sosp|>",
    "<|eosp|>",
    "<|empty|>",
    "<|Human|>",
    "<|SpeechLM|>",
    "<|sostm|>",
    "<|eostm|>",
    "<|eot|>",
)


def encode_segments(tokenizer: Any, segments: Sequence[str]) -> list[int]:
    """Token ids of `segments`, each tokenized alone without special tokens, concatenated."""
    ids: list[int] = []
    for s in segments:
        if s:
            ids.extend(tokenizer(s, add_special_tokens=False)["input_ids"])
    return ids


def audio_understanding_prompt_ids(
    tokenizer: Any, question: str, *, thinking: bool = False
) -> tuple[list[int], list[int]]:
    """`(before, after)`: the text ids before and after the audio segment of upstream's
    audio-understanding prompt, for `MiMoAudioLM.build_prefix(before, codes, after)`. The prompt ends
    where the assistant's answer begins (after the empty think block, or after "<think>\\n")."""
    before = encode_segments(tokenizer, [USER_START])
    after = encode_segments(
        tokenizer, [question, USER_END, ASSISTANT_START, THINKING if thinking else NO_THINKING]
    )
    return before, after


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Ids that end an answer: the tokenizer's eos token and `<|im_end|>`."""
    ids = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    return sorted({i for i in ids if isinstance(i, int)})
