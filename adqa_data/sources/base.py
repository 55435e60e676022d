"""What every upstream layout shares: reading rows, mapping them to canonical fields, validating them.

A layout module only says where its manifest is and how one upstream row maps onto the item table's
fields (`map_row`). Validation, quarantine reasons and path safety are decided here, once, so every
layout refuses bad input in the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.schema import QuarantineReason as R


class RowError(Exception):
    """A row that cannot become an item; `reason` is a quarantine reason code."""

    def __init__(self, reason: str, detail: str, item_id: str | None = None):
        self.reason, self.detail, self.item_id = reason, detail, item_id
        super().__init__(f"{reason}: {detail}")


@dataclass
class RawRow:
    row_index: int
    raw: str  # the original line (JSONL) or the row as JSON (Parquet)
    error: str | None = None  # why the line cannot be parsed at all (e.g. it is not UTF-8)


@dataclass(frozen=True)
class RowLimits:
    """Bounds on one row, so that a single huge or odd row is quarantined at download instead of stalling
    or aborting a model stage later. Defaults fit every known AudioMCQ / DCASE row with a wide margin."""

    max_options: int = 10  # the prompt styles letter options A-J: more cannot be asked
    max_text_chars: int = 10_000  # question plus options; a longer prompt is not a listening question

    def check(self) -> RowLimits:
        from ..core.errors import UserError

        if not 2 <= self.max_options <= 10:
            raise UserError(
                f"--max-options must be between 2 and 10 (options are lettered A-J), got {self.max_options}"
            )
        if self.max_text_chars < 1:
            raise UserError(f"--max-text-chars must be positive, got {self.max_text_chars}")
        return self


@dataclass
class MappedRow:
    """A row in canonical fields, before audio is probed."""

    row_index: int
    raw: str
    item_id: str
    question: str
    choices: list[str]
    answer_index: int | None
    answer_text: str | None
    audio_path: str  # normalised, relative to the dataset root
    source_dataset: str | None = None
    question_type: str | None = None
    cot: str | None = None
    upstream: dict[str, Any] = field(default_factory=dict)


class Layout(Protocol):
    name: str
    split: str
    manifest: str  # file name at the dataset root
    has_answers: bool

    def map_row(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Upstream JSON object -> canonical fields: item_id, question, choices, answer (text or None),
        audio_path, and optionally source_dataset, question_type, cot; plus `upstream`: the keys not
        modelled. Raise RowError for a missing or malformed field."""
        ...


# ------------------------------------------------------------------------------------------ reading
def read_jsonl(path: Path) -> Iterator[RawRow]:
    """Yield every non-blank line with its 0-based index among non-blank lines. A line that is not UTF-8
    is yielded with `error` set (and its bytes shown escaped), so it is quarantined, not fatal."""
    with open(path, "rb") as f:
        n = 0
        for raw in f:
            raw = raw.rstrip(b"\r\n")
            if n == 0 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield RawRow(n, raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                yield RawRow(n, raw.decode("utf-8", "backslashreplace"), f"byte {e.start} is not UTF-8")
            n += 1


def read_parquet_rows(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    n = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield RawRow(n, json.dumps(row, ensure_ascii=False, default=str))
            n += 1


# ----------------------------------------------------------------------------------------- field helpers
def take(obj: dict[str, Any], key: str, kind: type = str, required: bool = True) -> Any:
    if key not in obj or obj[key] is None:
        if required:
            raise RowError(R.MISSING_FIELD, f"field {key!r} is missing")
        return None
    value = obj[key]
    if kind is str and not isinstance(value, str):
        raise RowError(R.BAD_FIELD, f"field {key!r} should be a string, got {type(value).__name__}")
    if kind is list and not isinstance(value, list):
        raise RowError(R.BAD_FIELD, f"field {key!r} should be a list, got {type(value).__name__}")
    if kind is str and required and not value.strip():
        raise RowError(R.MISSING_FIELD, f"field {key!r} is empty")
    return value


def take_id(obj: dict[str, Any], key: str) -> str:
    """Ids may be strings or integers upstream; the item table keeps them as strings."""
    value = obj.get(key)
    if value is None:
        raise RowError(R.MISSING_FIELD, f"field {key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise RowError(R.BAD_FIELD, f"field {key!r} must be a non-empty string or integer")
    return str(value)


def rest(obj: dict[str, Any], used: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in used}


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def check_choices(choices: list[Any], max_options: int = RowLimits.max_options) -> list[str]:
    if not all(isinstance(c, str) for c in choices):
        raise RowError(R.BAD_FIELD, "every choice must be a string")
    if len(choices) < 2:
        raise RowError(R.TOO_FEW_CHOICES, f"{len(choices)} choice(s); a question needs at least 2")
    if len(choices) > max_options:
        raise RowError(R.TOO_MANY_CHOICES, f"{len(choices)} choices; at most {max_options} (--max-options)")
    seen: dict[str, int] = {}
    for i, c in enumerate(choices):
        if not c.strip():
            raise RowError(R.BAD_FIELD, f"choice {i} is empty")
        key = _norm(c)
        if key in seen:
            raise RowError(R.DUPLICATE_CHOICES, f"choices {seen[key]} and {i} are the same: {c!r}")
        seen[key] = i
    return choices


def resolve_answer(answer: Any, choices: list[str]) -> int:
    """Index of the answer among the choices: exact text first, then ignoring case and spacing."""
    if not isinstance(answer, str):
        raise RowError(R.BAD_FIELD, f"answer should be the text of a choice, got {type(answer).__name__}")
    if answer in choices:
        return choices.index(answer)
    norm = [_norm(c) for c in choices]
    if _norm(answer) in norm:
        return norm.index(_norm(answer))
    raise RowError(R.ANSWER_NOT_IN_CHOICES, f"answer {answer!r} is not one of the choices")


def safe_relative_path(audio_path: str) -> str:
    """Normalise a manifest's audio path; refuse absolute paths and `..` that climbs out of the root.

    A purely lexical check, so it costs nothing per row; links that resolve outside the root are
    caught when the file is probed (`escapes_root`), once per distinct file.
    """
    if not audio_path or not audio_path.strip():
        raise RowError(R.MISSING_FIELD, "field 'audio_path' is empty")
    if "\0" in audio_path:
        raise RowError(R.BAD_FIELD, f"audio path {audio_path!r} contains a NUL byte")
    p = audio_path.replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":") or os.path.isabs(audio_path):
        raise RowError(R.ABSOLUTE_PATH, f"audio path {audio_path!r} is absolute")
    norm = os.path.normpath(p)
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise RowError(R.PATH_ESCAPES_ROOT, f"audio path {audio_path!r} climbs out of the dataset root")
    return norm.replace(os.sep, "/")


def escapes_root(path: Path, real_root: str) -> bool:
    """True when `path` (inside the root lexically) resolves through a link to somewhere outside it."""
    real = os.path.realpath(path)
    return real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep)


def map_and_validate(layout: Layout, row: RawRow, limits: RowLimits = RowLimits()) -> MappedRow:
    """One upstream row -> a MappedRow, or RowError with the reason it is quarantined."""
    if row.error:
        raise RowError(R.INVALID_JSON, f"line is not valid UTF-8: {row.error}")
    try:
        obj = json.loads(row.raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RowError(R.INVALID_JSON, f"line is not valid JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:  # valid JSON, but nested deeper than the parser's stack: no item nests like that
        raise RowError(R.INVALID_JSON, "line nests JSON too deeply to read") from None
    if not isinstance(obj, dict):
        raise RowError(R.INVALID_JSON, f"line is JSON {type(obj).__name__}, not an object")
    try:
        try:  # JSON escapes can spell unpaired surrogates, which no UTF-8 table can store
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise RowError(R.BAD_FIELD, f"a field holds an unpaired surrogate ({e.reason})") from None
        except RecursionError:
            raise RowError(R.INVALID_JSON, "line nests JSON too deeply to read") from None
        return _validate(layout, row, layout.map_row(obj), limits)
    except RowError as e:
        # keep the id when the row has one, so a quarantined row can be traced
        raw_id = obj.get("id", obj.get("item_id"))
        e.item_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
        raise


def _validate(layout: Layout, row: RawRow, f: dict[str, Any], limits: RowLimits) -> MappedRow:
    choices = check_choices(f["choices"], limits.max_options)
    text_chars = len(f["question"]) + sum(len(c) for c in choices)
    if text_chars > limits.max_text_chars:
        raise RowError(
            R.TEXT_TOO_LONG,
            f"question and options hold {text_chars} characters; at most "
            f"{limits.max_text_chars} (--max-text-chars)",
        )
    answer = f.get("answer")
    if layout.has_answers and answer is None:
        raise RowError(R.MISSING_FIELD, "field 'answer' is missing")
    answer_index = resolve_answer(answer, choices) if answer is not None else None
    return MappedRow(
        row_index=row.row_index,
        raw=row.raw,
        item_id=f["item_id"],
        question=f["question"],
        choices=choices,
        answer_index=answer_index,
        answer_text=None if answer_index is None else choices[answer_index],
        audio_path=safe_relative_path(f["audio_path"]),
        source_dataset=f.get("source_dataset"),
        question_type=f.get("question_type"),
        cot=f.get("cot"),
        upstream=f.get("upstream") or {},
    )
