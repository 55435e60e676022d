"""The submission file's rules, checked: `validate_bytes` reads a CSV made anywhere and reports every
problem with its line number (not UTF-8, a byte-order mark, a wrong header, a row without exactly two
fields, a blank line, an empty id or answer, an id duplicated, unknown or missing, an answer that is not
verbatim one of the item's options); `check_target` decides where `submit` may write one."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...core.atomic_files import check_output_place
from ...core.errors import UserError
from ...core.schema import ITEMS
from ...core.user_files import read_user_file
from ...core.workspace import Workspace
from ...mcq.answers import LETTERS

HEADER = ("question", "answer")
BOM = b"\xef\xbb\xbf"
# the largest file validate-submission reads: a real submission is an id and one option per item, far
# below this; a device or a runaway file is refused instead of read without bound
MAX_SUBMISSION_BYTES = 64 << 20


class Problem:
    """Problem kinds. Stable strings: scripts count by them."""

    ENCODING = "not_utf8"
    BOM = "byte_order_mark"
    HEADER = "bad_header"
    FIELDS = "wrong_field_count"
    BLANK = "blank_line"
    EMPTY_ID = "empty_id"
    DUPLICATE_ID = "duplicate_id"
    EXTRA_ID = "extra_id"
    MISSING_ID = "missing_id"
    EMPTY_ANSWER = "empty_answer"
    NOT_VERBATIM = "answer_not_verbatim"


@dataclass(frozen=True)
class Finding:
    kind: str  # a Problem value
    line: int | None  # 1-based line of the file; None for a missing id
    item_id: str | None
    detail: str


@dataclass
class ValidationReport:
    path: str
    dataset: str
    expected_items: int
    rows: int  # data rows read (after the header)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dataset": self.dataset,
            "ok": self.ok,
            "expected_items": self.expected_items,
            "rows": self.rows,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }


# ----------------------------------------------------------------------------------------- validating
def _ws(s: str) -> str:
    return " ".join(s.split())


def answer_problem(answer: str, choices: Sequence[str]) -> str | None:
    """Why `answer` is not verbatim one of `choices` (None when it is)."""
    if answer in choices:
        return None
    for i, c in enumerate(choices):
        if _ws(answer) == _ws(c):
            return f"differs from option {LETTERS[i]} {c!r} only in whitespace"
        if answer.casefold() == c.casefold():
            return f"differs from option {LETTERS[i]} {c!r} only in case"
        if _ws(answer).casefold() == _ws(c).casefold():
            return f"differs from option {LETTERS[i]} {c!r} only in case and whitespace"
    letter = answer.strip().strip("().").upper()
    if len(letter) == 1 and letter in LETTERS[: len(choices)]:
        return f"is a letter, not the option's text (option {letter} is {choices[LETTERS.index(letter)]!r})"
    return f"is not one of the item's {len(choices)} options"


def _decode(data: bytes, findings: list[Finding]) -> str:
    if data.startswith(BOM):
        findings.append(
            Finding(
                Problem.BOM,
                1,
                None,
                "the file starts with a UTF-8 byte-order mark; "
                "a reader that does not expect one sees the header as '\\ufeffquestion'",
            )
        )
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        findings.append(
            Finding(
                Problem.ENCODING,
                line,
                None,
                f"byte {data[e.start]:#04x} is not UTF-8 (save the file as UTF-8)",
            )
        )
        return data.decode("utf-8", errors="replace")


def validate_rows(
    records: Sequence[tuple[int, list[str]]], items: Mapping[str, Sequence[str]]
) -> list[Finding]:
    """Check data rows (line, fields) against the items (id -> options, in submission order)."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    stripped = {_ws(i): i for i in items}
    for line, fields in records:
        if not fields or all(not f.strip() for f in fields) and len(fields) <= 1:
            findings.append(Finding(Problem.BLANK, line, None, "blank line"))
            continue
        item_id = fields[0]
        if len(fields) != 2:
            findings.append(
                Finding(
                    Problem.FIELDS,
                    line,
                    item_id or None,
                    f"{len(fields)} fields, expected 2 (an answer with a comma must be quoted)",
                )
            )
        if not item_id.strip():
            findings.append(Finding(Problem.EMPTY_ID, line, None, "empty question id"))
            continue
        if item_id in seen:
            findings.append(Finding(Problem.DUPLICATE_ID, line, item_id, f"also on line {seen[item_id]}"))
            continue
        seen[item_id] = line
        if item_id not in items:
            near = stripped.get(_ws(item_id))
            hint = f" (item {near!r} differs only in whitespace)" if near else ""
            findings.append(Finding(Problem.EXTRA_ID, line, item_id, f"not an item of the dataset{hint}"))
            continue
        if len(fields) < 2:
            continue
        answer = fields[1]
        if not answer.strip():
            findings.append(Finding(Problem.EMPTY_ANSWER, line, item_id, "empty answer"))
            continue
        why = answer_problem(answer, items[item_id])
        if why:
            findings.append(Finding(Problem.NOT_VERBATIM, line, item_id, f"answer {answer!r} {why}"))
    seen_stripped = {_ws(i) for i in seen}
    for item_id in items:
        if item_id not in seen:
            near = " (a row has it with other whitespace)" if _ws(item_id) in seen_stripped else ""
            findings.append(Finding(Problem.MISSING_ID, None, item_id, f"no row for this item{near}"))
    return findings


def read_records(text: str) -> list[tuple[int, list[str]]]:
    """CSV records with the 1-based line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out, prev = [], 0
    for fields in reader:
        out.append((prev + 1, fields))
        prev = reader.line_num
    return out


def validate_bytes(
    data: bytes, items: Mapping[str, Sequence[str]], path: str = "", dataset: str = ""
) -> ValidationReport:
    """Validate a submission's bytes against the items (id -> options)."""
    findings: list[Finding] = []
    text = _decode(data, findings)
    try:
        records = read_records(text)
    except csv.Error as e:
        findings.append(Finding(Problem.FIELDS, None, None, f"not readable as CSV: {e}"))
        return ValidationReport(path, dataset, len(items), 0, findings)
    if not records:
        findings.append(
            Finding(Problem.HEADER, 1, None, "the file is empty; expected the header 'question,answer'")
        )
        findings += validate_rows([], items)
        return ValidationReport(path, dataset, len(items), 0, findings)
    line, first = records[0]
    if tuple(first) != HEADER:
        findings.append(
            Finding(Problem.HEADER, line, None, f"header is {','.join(first)!r}, expected 'question,answer'")
        )
        if first and first[0] in items:  # no header at all: the first line is data
            records = [(0, []), *records]
    rows = records[1:]
    findings += validate_rows(rows, items)
    findings.sort(key=lambda f: (f.line is None, f.line or 0))
    return ValidationReport(path, dataset, len(items), len(rows), findings)


def dataset_options(ws: Workspace, dataset: str | None) -> tuple[str, dict[str, list[str]]]:
    """(dataset name, item id -> options in item-table order)."""
    ds = ws.dataset(dataset).name
    t = ws.read(ITEMS, ds, columns=["item_id", "choices"]).to_pylist()
    if not t:
        raise UserError(f"dataset {ds!r} has no items", fix="run 'adqa-data download' first")
    return ds, {r["item_id"]: list(r["choices"]) for r in t}


def validate_submission(ws: Workspace, path: str | Path, dataset: str | None = None) -> ValidationReport:
    """Validate a CSV made anywhere against a dataset of the workspace (every problem, with lines)."""
    p = Path(path)
    data = read_user_file(p, "submission file", MAX_SUBMISSION_BYTES, fix="name the submission CSV")
    ds, items = dataset_options(ws, dataset)
    return validate_bytes(data, items, str(p), ds)


def looks_like_submission(data: bytes) -> bool:
    """A file `submit` may replace: UTF-8 CSV, header `question,answer`, every row an id and an answer."""
    try:
        records = read_records(data.decode("utf-8"))
    except (UnicodeDecodeError, csv.Error):
        return False
    if not records or tuple(records[0][1]) != HEADER:
        return False
    return all(len(fields) == 2 and fields[0].strip() for _, fields in records[1:])


def check_target(ws: Workspace, path: Path, force: bool) -> None:
    """`submit --out` writes only where a submission belongs: inside the workspace only under
    `submissions/` (never over its tables, whatever links say), and over an existing file only when it is
    a submission (or with --force). Never a folder, FIFO or device."""
    subs = ws.root / "submissions"
    check_output_place(
        path,
        ws.root,
        subs,
        "the submission",
        f"leave out --out (default {subs}/<dataset>/<name>.csv), or write it outside the workspace "
        "(a link at submissions/ that leads out of the workspace: remove it)",
    )
    if os.path.exists(path) and not os.path.isfile(path):
        raise UserError(f"refusing to write the submission to {path}: it is not a regular file")
    if force or not os.path.exists(path):  # nothing there, or a dangling link (replaced, not followed)
        return
    try:
        data = read_user_file(path, "submission file", MAX_SUBMISSION_BYTES)
    except UserError:
        data = b""
    if not looks_like_submission(data):
        raise UserError(
            f"refusing to overwrite {path}: it is not a submission CSV (header question,answer)",
            fix="choose another --out, or pass --force to replace it",
        )
