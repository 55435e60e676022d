"""Where letters mode reads the option letter, one rule for every backend: the text prefilled in the
assistant turn before the letter, and the token ids the letters are read as after it.

Why: letters mode reads P(letter) from one next-token distribution. Read where the model would not write
a letter (the first reply token of a model trained to open with `<answer>`, such as R1-AQA, or with
`<think>`), the renormalised choice is off-distribution and can move items between weak and strong. So
the assistant turn is prefilled up to where the letter belongs, and a model or style that reasons before
answering is refused (generate mode reads it).

Two halves decide the prefill:
- the model: how its replies open whatever the prompt asks (`REPLY_OPENINGS`): `letter`, `answer_tag`
  (`<answer>` first) or `think` (reasoning first). The first that is set wins (`declared_opening`): the
  panel member's `reply_opens_with`; the adapter's table of known checkpoints
  (`ModelAdapter.checkpoint_openings`, e.g. mispeech/r1-aqa -> answer_tag); the family's
  `ModelAdapter.reply_opens_with`. None set: the model follows the prompt style.
- the prompt style: `PromptStyle.letter_prefix` ("" = letter first, "<answer>", None = reasoning first or
  no lettered options).

Combined (`letter_prefix`): refused when the model or the style puts reasoning first, or when the chat
template already opened a `<think>` block after the user's message; else the model's declared opening
(letter -> "", answer_tag -> "<answer>"), else the style's prefix. Refusing when either side reasons
first is the conservative choice: a letter read before the reasoning a model would write is not its
answer.

Tokenisation (`read_letters`): the letter read after a prefill is the token the model produces there,
the canonical tokenization of prompt + prefix + letter. A BPE tokenizer may merge the prefix's end with
the letter (Qwen's `<answer>B` is `<answer` + `>B`): the prefill then stops before the merged piece and
the letters are read as the merged tokens (`>A`, `>B`, ...). When the letters do not all end one token
after a common prefill, they cannot be read in one step: a UserError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal, get_args

from ..core.errors import UserError
from ..mcq.answers import LETTERS
from ..mcq.prompt_styles import PromptStyle

ReplyOpening = Literal["letter", "answer_tag", "think"]  # a panel member's `reply_opens_with`
REPLY_OPENINGS: tuple[str, ...] = get_args(ReplyOpening)
ANSWER_TAG = "<answer>"
_OPENING_PREFIX = {"letter": "", "answer_tag": ANSWER_TAG}
GENERATE_FIX = "use generate mode for it (--mode generate, or mode: generate in the panel)"


@dataclass(frozen=True)
class LetterReading:
    """How letters are read after one prompt end: `prefill_ids` (and the same as text, `prefill_text`)
    are appended to the prompt; `letter_ids[i]` is the token naming option i at the next position."""

    prefill_ids: tuple[int, ...]
    prefill_text: str
    letter_ids: tuple[int, ...]


def check_opening(opening: str | None, where: str = "") -> str | None:
    if opening is not None and opening not in REPLY_OPENINGS:
        raise UserError(
            f"unknown reply opening {opening!r}",
            where=where or None,
            fix=f"use one of {list(REPLY_OPENINGS)}",
        )
    return opening


def checkpoint_matches(model: str, hub_id: str) -> bool:
    """Whether `model` (a hub id or a local path) is the checkpoint `hub_id`: the id itself, a folder of
    the hub cache (`models--org--name`), or a path ending in `org/name`. A bare folder name is not
    enough (a user's own fine-tune may share it)."""
    m, h = model.strip().rstrip("/").lower(), hub_id.lower()
    if m == h or m.endswith("/" + h):
        return True
    return f"models--{h.replace('/', '--')}" in PurePath(m).parts


def declared_opening(model: str | None, family: str | None, override: str | None = None) -> str | None:
    """How the model's replies open, as far as it is declared (module docstring): the `override` (a
    panel member's `reply_opens_with`), else a known checkpoint of the family's table (of every family's
    when `family` is None), else the family's own; None = the model follows the prompt style."""
    from .adapters import ADAPTERS

    if override is not None:
        return check_opening(override)
    classes = [ADAPTERS[family]] if family in ADAPTERS else list(ADAPTERS.values())
    if model:
        for cls in classes:
            for hub_id, opening in cls.checkpoint_openings.items():
                if checkpoint_matches(str(model), hub_id):
                    return opening
    return ADAPTERS[family].reply_opens_with if family in ADAPTERS else None


def opens_think(after_user: str) -> bool:
    """Whether the prompt text after the user's message leaves a `<think>` block open (a chat template
    that starts the reply in thinking mode)."""
    return after_user.rfind("<think>") > after_user.rfind("</think>")


def letter_prefix(style: PromptStyle, opening: str | None, after_user: str = "", who: str = "") -> str:
    """The text to prefill before the option letter (module docstring), or a UserError naming generate
    mode when the letter is not reachable without reasoning. `after_user`: the prompt's text after the
    user's message (the template's end of turn and start of reply)."""
    what = f"{who}: " if who else ""
    if opening == "think" or opens_think(after_user):
        raise UserError(
            f"{what}the model reasons in <think> before it names an option, so letters mode would read a "
            "letter where it writes none",
            fix=GENERATE_FIX,
        )
    if style.letter_prefix is None:
        raise UserError(
            f"{what}prompt style {style.name!r} has no letter position (letter_prefix: null: its reply reasons "
            "first or names no letter), so letters mode cannot read it",
            fix=f"{GENERATE_FIX}, or a style with a letter_prefix (letters, answer_tag)",
        )
    if opening is not None:
        return _OPENING_PREFIX[check_opening(opening)]  # type: ignore[index]
    return style.letter_prefix


def read_letters(
    encode: Callable[[str], Sequence[int]],
    decode: Callable[[Sequence[int]], str],
    context_ids: Sequence[int],
    prefix: str,
    k: int,
    where: str,
) -> LetterReading:
    """How the first `k` letters are read after `context_ids` (the prompt's end after its last special
    token) and the `prefix` (module docstring). `encode` tokenizes text without special tokens."""
    context_ids = list(context_ids)
    context = decode(context_ids)
    if list(encode(context)) != context_ids:
        raise UserError(
            f"the end of the prompt ({where}) does not tokenize to itself, so the letters' tokens there are unknown",
            fix=GENERATE_FIX,
        )
    letters = LETTERS[:k]
    reads = [list(encode(context + prefix + L)) for L in letters]
    heads = {tuple(r[:-1]) for r in reads}
    head = list(next(iter(heads))) if len(heads) == 1 else []
    ids = [r[-1] for r in reads]
    fill = head[len(context_ids) :]
    ok = (
        len(heads) == 1  # every letter ends one token after the same head
        and head[: len(context_ids)] == context_ids
        and len(set(ids)) == k
        and all(decode(fill) + decode([i]) == prefix + L for i, L in zip(ids, letters))
    )
    if not ok:
        raise UserError(
            f"after {prefix!r} ({where}) the letters {', '.join(letters)} are not each one token at one "
            "position with this tokenizer, so letters mode cannot read them in one step",
            fix=GENERATE_FIX,
        )
    text = decode(fill)
    if list(encode(context + text)) != head:
        raise UserError(f"the prefill {text!r} ({where}) does not tokenize back to itself", fix=GENERATE_FIX)
    return LetterReading(tuple(fill), text, tuple(ids))


def after_user(prompt: str, user_text: str) -> str:
    """The prompt's text after the (last) rendering of the user's message; the whole prompt when the
    message is not found verbatim."""
    cut = prompt.rfind(user_text)
    return prompt if cut < 0 else prompt[cut + len(user_text) :]
