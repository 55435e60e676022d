"""Prompt styles, in one place: how a question and its options become the user turn, which system prompt
goes with it, and what an answer looks like in the reply.

A style is model-agnostic text; a model adapter (`adqa_data.inference.adapters`) wraps it in the family's chat format
and audio placeholder. Stages name a style in `Query.prompt_style`; users may add styles as YAML under
`pipelines/prompts/` (`load_prompt_style`).

Built in:
- `letters`    — options shown as "A. …" lines and an instruction to answer with the letter. The reply's
  first token is the letter, so `letters` scoring reads one next-token distribution (no generation).
- `answer_tag` — the same lettered options, the letter asked for inside <answer> </answer>: letters mode
  prefills `<answer>` and reads the letter after it.
- `audiomcq`   — the prompt of R1-AQA, AudioMCQ and NeMo-RL, verbatim: the choices as a Python list repr
  and "<answer> </answer>", with the AudioMCQ system prompt. Its options carry no letters, so it has no
  letters mode (options or generate mode read it).
- `think`      — the DCASE 2026 MiMo-Audio report's format (docs/method.md#prompt-and-output-format): reason
  inside <think>…</think>, then exactly one letter A–D inside <answer>…</answer>. Used by rollout. The
  letter comes after reasoning, so letters mode refuses it (generate mode reads it).

`letter_prefix` is the style's half of where letters mode reads the letter; the model's half (how its
replies open, whatever the style asks) is `inference.letter_position`, which combines the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..core.errors import UserError
from .answers import LETTERS

AUDIOMCQ_SYSTEM = (
    "You are an audio understanding model that answers multiple choice questions based on audio content."
)
THINK_SYSTEM = (
    "You are an audio understanding model. Listen to the audio and answer the multiple-choice question. "
    "First reason concisely inside <think> </think>, then output exactly one option letter (A, B, C or D) "
    "inside <answer> </answer>."
)


class PromptStyle(BaseModel):
    """A prompt style. Templates are `str.format` strings over: `{question}`, `{options}` (the
    "A. text" lines), `{choices_list}` (the Python repr of the option list), `{letters}` ("A, B, C, D")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    system: str | None = Field(None, description="system prompt; None = the model family's default")
    user: str = Field(description="template of the user turn's text (after the audio)")
    letter_prefix: str | None = Field(
        None,
        description="the reply's text before the option letter, for a model that follows this style: "
        "'' = the reply starts with the letter, '<answer>' = with an answer tag; letters mode prefills it "
        "and reads the next token. None = the letter comes after free text (reasoning), so letters mode "
        "cannot read it",
    )
    option_reply: str | None = Field(
        None,
        description="template ({choice}, {letter}) of a reply giving one option, scored in `options` mode; "
        "None = options mode not supported by this style",
    )

    @model_validator(mode="before")
    @classmethod
    def _letter_first(cls, data: Any) -> Any:
        """Older style files say `letter_first: true | false`: true is `letter_prefix: ''`, false is
        `letter_prefix: null` (the letter's position unknown: letters mode refused)."""
        if isinstance(data, dict) and "letter_first" in data:
            data = dict(data)
            first = data.pop("letter_first")
            if "letter_prefix" in data:
                raise ValueError("give letter_prefix only (letter_first is its older form)")
            if not isinstance(first, bool):
                raise ValueError(f"letter_first must be true or false, not {first!r}")
            data["letter_prefix"] = "" if first else None
        return data

    @property
    def letter_first(self) -> bool:
        """The reply starts with the bare option letter (a letter is the whole answer)."""
        return self.letter_prefix == ""

    def render(self, question: str, choices: list[str]) -> str:
        """The user turn's text for one item."""
        if len(choices) > len(LETTERS):
            raise UserError(f"{len(choices)} options; at most {len(LETTERS)} can be lettered")
        letters = LETTERS[: len(choices)]
        return self.user.format(
            question=question.strip(),
            options="\n".join(f"{L}. {c}" for L, c in zip(letters, choices)),
            choices_list=repr(list(choices)),
            letters=", ".join(letters),
        )

    def option_reply_text(self, index: int, choices: list[str]) -> str:
        """The assistant reply that gives option `index` (options mode)."""
        if self.option_reply is None:
            raise UserError(
                f"prompt style {self.name!r} has no option_reply, so it cannot be scored in 'options' mode",
                fix="use the 'letters' or 'audiomcq' style, or add option_reply to the style",
            )
        return self.option_reply.format(choice=choices[index], letter=LETTERS[index])


LETTERS_STYLE = PromptStyle(
    name="letters",
    system=None,
    user="{question}\n{options}\nAnswer with the option's letter from the given choices directly.",
    letter_prefix="",
    # options mode: the option's own wording as the reply, so the letter (and its position bias) is not scored
    option_reply="{choice}",
)

AUDIOMCQ_STYLE = PromptStyle(
    name="audiomcq",
    system=AUDIOMCQ_SYSTEM,
    user=(
        "{question} Please choose the answer from the following options: {choices_list}. "
        "Output the final answer in <answer> </answer>."
    ),
    letter_prefix=None,  # the options are shown unlettered: a letter is not what the reply names
    option_reply="<answer>{choice}</answer>",
)

ANSWER_TAG_STYLE = PromptStyle(
    name="answer_tag",
    system=None,
    user="{question}\n{options}\nOutput the option's letter in <answer> </answer>.",
    letter_prefix="<answer>",
    option_reply=None,
)

THINK_STYLE = PromptStyle(
    name="think",
    system=THINK_SYSTEM,
    user="{question}\n{options}",
    letter_prefix=None,  # the letter comes after the reasoning
    option_reply=None,
)

BUILTIN: dict[str, PromptStyle] = {
    s.name: s for s in (LETTERS_STYLE, ANSWER_TAG_STYLE, AUDIOMCQ_STYLE, THINK_STYLE)
}
_REGISTERED: dict[str, PromptStyle] = {}


def register_style(style: PromptStyle) -> PromptStyle:
    """Make a (YAML-defined) style available by name to `get_style`."""
    if style.name in BUILTIN:
        raise UserError(f"prompt style name {style.name!r} is built in", fix="choose another name")
    _REGISTERED[style.name] = style
    return style


def get_style(name: str | PromptStyle) -> PromptStyle:
    """A style by name (built in or registered), or read from a YAML file when `name` ends in .yaml/.yml."""
    if isinstance(name, PromptStyle):
        return name
    if name.endswith((".yaml", ".yml")):
        return _style_file(name)
    style = BUILTIN.get(name) or _REGISTERED.get(name)
    if style is None:
        known = sorted(BUILTIN) + sorted(_REGISTERED)
        raise UserError(f"unknown prompt style {name!r}", fix=f"use one of {known} or load a YAML style")
    return style


_FILES: dict[tuple[str, int], PromptStyle] = {}


def _style_file(path: str) -> PromptStyle:
    """A YAML style, read once per file version (prompts are built per query)."""
    p = Path(path).expanduser().absolute()
    try:
        key = (str(p), p.stat().st_mtime_ns)
    except OSError:
        raise UserError(
            f"no such prompt style file: {path}", fix="give a built-in style name or a YAML file"
        ) from None
    if key not in _FILES:
        _FILES[key] = load_prompt_style(p, register=False)
    return _FILES[key]


def load_prompt_style(path: str | Path, register: bool = True) -> PromptStyle:
    """Read a style from YAML (the fields of `PromptStyle`)."""
    from ..core.config_files import load_yaml_model

    style = load_yaml_model(
        path, PromptStyle, "prompt style", fix="see pipelines/prompts/*.yaml for the keys"
    )
    return register_style(style) if register else style
