"""What a reading of an output ends in: the option credited and the layer that found it, or why nothing is."""

from __future__ import annotations

from dataclasses import dataclass

LETTERS = "ABCDEFGHIJ"  # the one definition: prompts, backends and stages import it from here


class Layer:
    """Which layer credited the answer. Stable strings: stored in `parse_layer` columns."""

    STRICT = "strict"
    ANSWER_TEXT = "answer_text"
    ANSWER_LETTER = "answer_letter"
    AFTER_THINK = "after_think"
    LAST_LETTER = "last_letter"
    OPTION_TEXT = "option_text"  # no answer block, no letter: an option's text is the answer


# the layers that read an answer block: the format reward credits an answer block only through them
BLOCK_LAYERS = frozenset({Layer.STRICT, Layer.ANSWER_TEXT, Layer.ANSWER_LETTER})


class NoCredit:
    """Why nothing was credited. Stable strings: users count outputs by them."""

    NO_ANSWER = "no_answer"  # nothing that looks like an answer
    EMPTY_ANSWER = "empty_answer"  # only empty answer blocks: <answer></answer>, <answer> . </answer>
    MULTIPLE_OPTIONS = "multiple_options"  # names two or more options
    LETTER_TEXT_CONFLICT = "letter_text_conflict"  # "C. <text of option A>", "I pick D, <text of A>"
    OUT_OF_RANGE = "letter_out_of_range"  # <answer>E</answer> with four options
    UNPARSEABLE = "unparseable_answer"  # a non-empty answer block that names no option
    NEGATED_ONLY = "negated_only"  # names options only to reject them: "not D", "D is wrong"


@dataclass(frozen=True)
class ParsedAnswer:
    index: int | None  # option index in the order shown to the model; None = nothing credited
    letter: str | None
    text: str | None  # the option's text, as in `choices`
    layer: str | None  # a `Layer` value when credited
    reason: str | None = None  # a `NoCredit` value when not

    @property
    def credited(self) -> bool:
        return self.index is not None


def letter_for(index: int) -> str:
    """The letter shown for option `index` (0 -> "A")."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} has no letter; at most {len(LETTERS)} options")
    return LETTERS[index]


@dataclass(frozen=True)
class Reading:
    """A layer's verdict before it becomes a `ParsedAnswer`: an option index and its layer, or a reason."""

    index: int | None
    layer: str | None = None
    reason: str | None = None
