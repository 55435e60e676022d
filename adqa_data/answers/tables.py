"""A markdown table (or a list) of the options with exactly one row marked as the match ("| B | Siren | ✅ |"): that
row's option is the answer. A row names its option by a letter cell ("B", "(B)", "Option B") or by a
cell that is the option's whole text; a row is marked by a cell that is a check mark (✅ ✔ ✓ ☑) or a
"yes" (and its Spanish, French, German, Chinese and Japanese forms)."""

from __future__ import annotations

import re

from .option_text import _Options, whole_text
from .verdict import LETTERS

_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
# a cell naming an option by letter, its text may follow: "B", "(B)", "Option B", "A. English", "C 鸟鸣"
_LETTER_CELL = re.compile(
    rf"[\s*_`]*(?i:(?:option|choice|opci[oó]n)\s+)?[(\[]?([{LETTERS}])[)\]]?(?:[.:)]?[\s*_`]*|[.:)]?\s+(.*?)[\s*_`]*)"
)
_CHECK = "\u2705\u2714\u2713\u2611"  # ✅ ✔ ✓ ☑
_CHECK_CELL = re.compile(rf"[\s*_`]*[{_CHECK}]\ufe0f?(?:\s*(?i:yes|s[ií]|oui|ja|是|はい))?[\s*_`!.]*")
_YES_CELL = re.compile(r"[\s*_`]*(?i:yes|y|true|s[ií]|oui|ja|是|はい|○)[\s*_`!.]*")


def table_lines(text: str) -> list[tuple[int, int]]:
    """The rows of markdown tables in `text`, as [start, end)."""
    return [(m.start(), m.end()) for m in _ROW.finditer(text)]


def _row_option(cells: list[str], opts: _Options) -> int | None:
    """The one option a row names (by a letter cell, with or without its text, or by a text cell)."""
    n = len(opts.keys)
    options = set()
    for cell in cells:
        by_text = whole_text(cell, opts) if cell.strip() else None
        if by_text is not None:
            options.add(by_text)
            continue
        letter = _LETTER_CELL.fullmatch(cell)
        if letter and letter.group(1) in LETTERS[:n]:
            index = LETTERS.index(letter.group(1))
            rest = letter.group(2)
            if rest and whole_text(rest, opts) not in (None, index):
                return None  # a letter beside another option's text
            options.add(index)
    return options.pop() if len(options) == 1 else None


def read_table(text: str, opts: _Options) -> int | None:
    """The option of the one marked row, when a table marks exactly one row and that row names one
    option. Where the table has check marks, only they mark a row ("yes" cells are then features)."""
    rows = [m.group(1).split("|") for m in _ROW.finditer(text)]
    checks = any(_CHECK_CELL.fullmatch(c) for row in rows for c in row)
    mark = _CHECK_CELL if checks else _YES_CELL
    marked = {_row_option(row, opts) for row in rows if any(mark.fullmatch(c) for c in row[1:])}
    marked.discard(None)  # a header row ("| Option | Match |") names no option
    return marked.pop() if len(marked) == 1 else None


# an option list's line marked as the match ("- B: Siren — yes", "B) ✅") or as no match ("- A: ... — no")
_LINE_YES = re.compile(
    rf"[{_CHECK}\u25cb\u3007]|(?:[\u2013\u2014:\-]|\*\*)\s*(?:\*\*)?\s*(?:(?i:yes|match(?:es)?)\b|符合|正确|正確|一致|該当)"
)
_LINE_NO = re.compile(
    r"[\u274c\u2717\u2718\u2716\u00d7]|(?:[\u2013\u2014:\-]|\*\*)\s*(?:\*\*)?\s*(?:(?i:no)\b|不符|不对|不對|不正确|不一致|該当しない|違う)"
)


def read_marked_list(text: str, heads: list[tuple[int, str, int, int]]) -> int | None:
    """The option of the one line marked as the match in a list of option lines, each marked yes or no
    (`heads`: per line, its letter's position, the letter, and the line as [start, end))."""
    yes, marked = set(), 0
    for pos, letter, _, end in heads:
        line = text[pos + 1 : end]
        if _LINE_NO.search(line):  # first: "不符合" holds "符合"
            marked += 1
        elif _LINE_YES.search(line):
            yes.add(LETTERS.index(letter))
            marked += 1
    return yes.pop() if len(yes) == 1 and marked >= 2 else None
