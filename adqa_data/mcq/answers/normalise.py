"""The copy of an output the parser reads: Unicode folded, tags found, LaTeX letter wrappers as brackets."""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_PUNCT = str.maketrans(
    {
        "\u3002": ".",  # 。
        "\u3001": ",",  # 、
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        **dict.fromkeys("\u3010\u3014\u3016\u3018", "["),  # 【〔〖〘
        **dict.fromkeys("\u3011\u3015\u3017\u3019", "]"),
        **dict.fromkeys("\u300c\u300d\u300e\u300f", '"'),  # 「」『』
    }
)


# markup a reader never sees: an HTML comment, a markdown link-reference comment, a hidden element
_COMMENT_OPEN = "<!--"
_MD_COMMENT = re.compile(r"^[ \t]*\[//\]:\s*#[^\n]*$", re.MULTILINE)
_HIDDEN_OPEN = re.compile(
    r"<([a-zA-Z][\w-]{0,20})\b[^<>]{0,300}?(?:display\s*:\s*none|visibility\s*:\s*hidden|\shidden\b)[^<>]{0,300}>"
)


def strip_hidden(text: str) -> str:
    """`text` with what a rendered reply does not show (HTML comments, `[//]: # (...)` lines, elements
    marked hidden) blanked out, positions kept: a letter only there is no answer. An unclosed comment or
    hidden element hides the rest. One pass: each search starts where the last one ended."""
    if "<" not in text and "[//]" not in text:
        return text
    parts, pos = [], 0
    comment, hidden = -1, _HIDDEN_OPEN.search(text)
    while True:
        if comment < pos:
            comment = text.find(_COMMENT_OPEN, pos)
            if comment < 0:
                comment = len(text) + 1
        if hidden is not None and hidden.start() < pos:
            hidden = _HIDDEN_OPEN.search(text, pos)
        start = comment if comment <= len(text) else -1
        if hidden is not None and (start < 0 or hidden.start() < start):
            close = re.compile(rf"</\s*{re.escape(hidden.group(1))}\s*>", re.IGNORECASE).search(
                text, hidden.end()
            )
            start, end = hidden.start(), (close.end() if close else len(text))
        elif start >= 0:
            close_at = text.find("-->", start + 4)
            end = len(text) if close_at < 0 else close_at + 3
        else:
            break
        parts.append(text[pos:start])
        parts.append(" " * (end - start))
        pos = end
    parts.append(text[pos:])
    return _MD_COMMENT.sub(lambda m: " " * len(m.group()), "".join(parts))


def normalize(text: str) -> str:
    """The copy of `text` the parser reads (options and outputs alike): invisible format characters
    dropped, NFKC (fullwidth and mathematical letters, fullwidth brackets, NBSP), CJK brackets and
    full stops and curly quotes mapped to ASCII. ASCII text is returned as is."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).translate(_PUNCT)


# ----------------------------------------------------------------------------------------- patterns
# the think/answer tags, defined once (rewards.format reads the same tags): case and inner spaces free
THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
ANSWER_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
ANY_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)
_OPEN, _CLOSE = ANSWER_OPEN.pattern, ANSWER_CLOSE.pattern
# the innermost block: a stray earlier "<answer>" does not swallow the real one
ANSWER_BLOCK = re.compile(rf"{_OPEN}((?:(?!{_OPEN}).)*?){_CLOSE}", re.IGNORECASE | re.DOTALL)
ANSWER_UNCLOSED = re.compile(rf"{_OPEN}((?:(?!{_OPEN}|{_CLOSE}).)*)\Z", re.IGNORECASE | re.DOTALL)
# LaTeX answers: `\boxed{B}`, `\text{B}`, `$B$` are read as "(B)", keeping every position (same length)
_LATEX = re.compile(r"\\(?:boxed|fbox|text\w*|math\w*|bf)\s*\{([^{}]{0,200})\}")
_DOLLAR = re.compile(r"\$([A-Za-z])\$")


def _unlatex(text: str) -> str:
    """`text` with LaTeX wrappers around a letter turned into brackets, at the same positions."""
    if "\\" not in text and "$" not in text:
        return text
    for _ in range(3):  # \boxed{\text{B}}: innermost first
        new = _LATEX.sub(lambda m: " " * (m.start(1) - m.start() - 1) + "(" + m.group(1) + ")", text)
        if new == text:
            break
        text = new
    return _DOLLAR.sub(r"(\1)", text)
