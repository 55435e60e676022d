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
_YES_CELL = re.compile(r"[\s*_`]*(?i:yes|y|true|s[ií]|oui|ja|是|はい|○|◯|〇|对|對|符合|一致)[\s*_`!.]*")
_NO_CELL = re.compile(
    r"[\s*_`]*(?:[\u274c\u2717\u2718\u2716\u00d7\u2715]\ufe0f?|(?i:no|n|false|nein|non)\b|否|いいえ|不符合?|不一致|不对|不對)"
    r"[^|]*"
)
_SEPARATOR = re.compile(r"[\s:|-]*-{2,}[\s:|-]*")
# a header naming the verdict column among feature columns: "Fits", "Match", "Verdict", "Answer", "符合",
# "一致", "Passt", "Coincide", "Correspond"; that column alone decides
_VERDICT_HEAD = re.compile(
    r"^[\s*_`]*(?i:fits?|match(?:es)?|matching|verdict|answer|conclusion|result|correct|chosen|selected|final"
    r"|passt|passend|urteil|ergebnis|antwort|fazit|stimmt|coincide|encaja|veredicto|conclusi[oó]n|respuesta|resultado"
    r"|correspond|verdict|r[ée]ponse|r[ée]sultat|choix)(?![^\W_])"
    r"|符合|一致|匹配|结论|結論|判定|正解|答案|答え|结果|結果|是否正确|該当"
)


def table_lines(text: str) -> list[tuple[int, int]]:
    """The rows of markdown tables in `text`, as [start, end)."""
    return [(m.start(), m.end()) for m in _ROW.finditer(text)]


def _row_option(cells: list[str], opts: _Options, skip: int | None = None) -> int | None:
    """The one option a row names (by a letter cell, with or without its text, or by a text cell); the
    cell `skip` (the verdict column) is no name."""
    n = len(opts.keys)
    options = set()
    for k, cell in enumerate(cells):
        if k == skip:
            continue
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


def _tables(text: str) -> list[tuple[list[str] | None, list[list[str]]]]:
    """The markdown tables in `text`: per table its header (the row above the separator, if any) and its
    body rows, each split into cells."""
    out: list[tuple[list[str] | None, list[list[str]]]] = []
    last_end = -2
    for m in _ROW.finditer(text):
        cells = m.group(1).split("|")
        if m.start() > last_end + 1 or not out:
            out.append((None, []))
        last_end = m.end()
        header, rows = out[-1]
        if _SEPARATOR.fullmatch(m.group(1)):
            if header is None and rows:
                out[-1] = (rows.pop(), rows)
            continue
        rows.append(cells)
    return out


def _marked(header: list[str] | None, rows: list[list[str]], opts: _Options) -> set[int | None]:
    """The options of the rows one table marks as the match. A verdict column ("Fits", "Match", "符合")
    holding yes/no marks decides alone, so feature columns with several yes do not count; else a row is
    marked by a check mark in any cell, or, where the table has none, by a "yes"."""
    verdict = None
    if header is not None:
        for k, cell in enumerate(header):
            if _VERDICT_HEAD.search(cell.strip()) and any(
                k < len(r)
                and (_YES_CELL.fullmatch(r[k]) or _CHECK_CELL.fullmatch(r[k]) or _NO_CELL.match(r[k]))
                for r in rows
            ):
                verdict = k  # the last such column: the conclusion stands at the end
    if verdict is not None:
        return {
            _row_option(r, opts, verdict)
            for r in rows
            if verdict < len(r) and (_YES_CELL.fullmatch(r[verdict]) or _CHECK_CELL.fullmatch(r[verdict]))
        }
    checks = any(_CHECK_CELL.fullmatch(c) for row in rows for c in row)
    mark = _CHECK_CELL if checks else _YES_CELL
    return {  # a cell that is an option's own text ("Yes" among yes/no options) names, it does not mark
        _row_option(row, opts)
        for row in rows
        if any(mark.fullmatch(c) and whole_text(c, opts) is None for c in row)
    }


def read_table(text: str, opts: _Options) -> int | None:
    """The option of the one marked row, when the tables mark exactly one row and that row names one
    option (`_marked`)."""
    marked: set[int | None] = set()
    for header, rows in _tables(text):
        marked |= _marked(header, rows, opts)
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
