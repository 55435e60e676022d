"""A markdown table of the options with exactly one row marked as the match ("| B | Siren | ✅ |"): that
row's option is the answer. A row names its option by a letter cell ("B", "(B)", "Option B") or by a
cell that is the option's whole text; a row is marked by a cell that is a check mark (✅ ✔ ✓ ☑) or a
"yes" (and its Spanish, French, German, Chinese and Japanese forms)."""

from __future__ import annotations

import re

from .option_text import _match_text, _Options
from .verdict import LETTERS

_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
_LETTER_CELL = re.compile(
    rf"[\s*_`]*(?i:(?:option|choice|opci[oó]n)\s+)?[(\[]?([{LETTERS}])[)\]]?[.:]?[\s*_`]*"
)
_MARK = re.compile(
    r"[\s*_`]*(?:[\u2705\u2714\u2713\u2611]\ufe0f?\s*)?(?i:yes|y|true|s[ií]|oui|ja|是|はい|○)?[\s*_`!.]*"
)
_CHECK = re.compile("[\u2705\u2714\u2713\u2611]")


def _marked(cell: str) -> bool:
    return bool(_MARK.fullmatch(cell)) and (bool(_CHECK.search(cell)) or any(ch.isalpha() for ch in cell))


def table_lines(text: str) -> list[tuple[int, int]]:
    """The rows of markdown tables in `text`, as [start, end)."""
    return [(m.start(), m.end()) for m in _ROW.finditer(text)]


def read_table(text: str, opts: _Options) -> int | None:
    """The option of the one marked row, when a table marks exactly one row and that row names one option."""
    n = len(opts.keys)
    named: set[int] = set()
    marked_rows = 0
    for m in _ROW.finditer(text):
        cells = m.group(1).split("|")
        if len(cells) < 2 or not any(_marked(c) for c in cells[1:]):
            continue
        options = set()
        for cell in cells:
            if _marked(cell):
                continue
            letter = _LETTER_CELL.fullmatch(cell)
            if letter and letter.group(1) in LETTERS[:n]:
                options.add(LETTERS.index(letter.group(1)))
                continue
            by_text = _match_text(cell, opts.keys) if cell.strip() else None
            if by_text is not None:
                options.add(by_text)
        if len(options) > 1:
            return None
        marked_rows += len(options)
        named |= options
    return named.pop() if marked_rows == 1 and len(named) == 1 else None
