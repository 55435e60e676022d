"""A completion's text from its token ids: control tokens dropped, think/answer tags always kept.

Why not `tokenizer.decode(ids, skip_special_tokens=True)`: it drops every token the tokenizer registers
as special, and a checkpoint may register `<think>`, `</think>`, `<answer>` or `</answer>` as special
tokens. Its tags would vanish from the text, and the parser (`answers.py`) and the format reward would
read an untagged output. So a completion is decoded with special tokens kept, after dropping only its
*control* ids: the ids `skip_special_tokens=True` would drop (the tokenizer's special tokens: end of
sequence and end of turn, padding, chat markers, audio placeholders, MiMo-Audio's `<|empty|>`) and the
model's end-of-turn ids, less every token that spells a think/answer tag (`answers.ANY_TAG`). MiMo-Audio
upstream (XiaomiMiMo/MiMo-Audio at 691ce54, `MimoAudio.forward`) decodes its text channel the same way:
`skip_special_tokens=False`, then `<|empty|>`, `<|eot|>`, `<|eostm|>` and the final eos removed.

`reasoning_rows` reads special tokens by the same rule (a special token that spells a tag is that tag,
every other one is no text), so the text and the token rows agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .answers import ANY_TAG


def _spells_tag(tokenizer: Any, tid: int) -> bool:
    piece = tokenizer.convert_ids_to_tokens(int(tid))
    return isinstance(piece, str) and ANY_TAG.fullmatch(piece) is not None


def control_ids(tokenizer: Any, extra: Iterable[int] = ()) -> frozenset[int]:
    """The ids a completion's text leaves out: the tokenizer's special tokens (its registered ones and
    every added token flagged special, which is what `skip_special_tokens` drops) and `extra` (the
    model's end-of-turn ids), less those that spell a think/answer tag. Compute once per tokenizer."""
    ids = {int(t) for t in getattr(tokenizer, "all_special_ids", None) or []}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(int(t) for t, tok in added.items() if getattr(tok, "special", False))
    ids.update(int(t) for t in extra if t is not None)
    return frozenset(t for t in ids if not _spells_tag(tokenizer, t))


def completion_text(tokenizer: Any, token_ids: Sequence[int], control: frozenset[int]) -> str:
    """The text of a completion: its tokens decoded with special tokens kept, less the `control` ids."""
    return tokenizer.decode([int(t) for t in token_ids if int(t) not in control], skip_special_tokens=False)
