"""Which part of the DCASE 2026 Task 5 development set an item belongs to, where the data says so.

The dev set has two parts: items drawn from existing benchmarks (MMAU, MMAR, MMSU) and newly built,
human-annotated ones. Its manifest (`dev.jsonl`: id, question_text, multi_choice, answer, audio_path)
records no part, and the ids (`dev_0001`...) do not encode one, so the part is derived only from what
a row does carry:

1. a parts file given by the user (`--parts FILE`: CSV with columns `item_id,part`, or a JSON object
   id -> part) wins, verbatim;
2. else, for datasets of a DCASE 2026 layout, the first of these fields a row has — the item's
   `source_dataset`, then the upstream keys `part`, `subset`, `benchmark`, `source`, `origin`,
   `dataset` — decides: a value naming MMAU, MMAR or MMSU gives `existing_benchmarks`; any other
   value of `part`/`subset` is kept as it is; any other source name gives `human_annotated`;
3. else the part is unknown (null), and eval says how many items that is instead of guessing.

Other layouts (AudioMCQ, generic) have no parts: their `source_dataset` is a corpus, not a part.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from ...core.errors import UserError
from ...core.user_files import decode_utf8, read_user_file

EXISTING = "existing_benchmarks"
NEW = "human_annotated"
DCASE_LAYOUTS = ("dcase2026-dev", "dcase2026-eval")
_BENCHMARK = re.compile(r"(?<![a-z])mm(?:au|ar|su)(?![a-z])", re.IGNORECASE)  # not "summary"
MAX_PARTS_BYTES = 64 << 20  # one short line per item: far more than any dev set needs
_UPSTREAM_KEYS = ("part", "subset", "benchmark", "source", "origin", "dataset")


def item_part(layout: str, source_dataset: str | None, upstream_json: str | None) -> str | None:
    """The part of one item (rule 2 of the module docstring); None when nothing says."""
    if layout not in DCASE_LAYOUTS:
        return None
    fields: list[tuple[str, Any]] = [("source_dataset", source_dataset)]
    if upstream_json:
        try:
            upstream = json.loads(upstream_json)
        except (ValueError, RecursionError):
            upstream = {}
        if isinstance(upstream, dict):
            fields += [(k, upstream.get(k)) for k in _UPSTREAM_KEYS]
    for key, value in fields:
        if isinstance(value, str) and value.strip():
            if _BENCHMARK.search(value):
                return EXISTING
            return value.strip() if key in ("part", "subset") else NEW
    return None


def load_parts_file(path: str | Path) -> dict[str, str]:
    """item id -> part from a CSV (`item_id,part`, header required) or a JSON object."""
    p = Path(path)
    # a regular file of bounded size only: a FIFO or /dev/zero would block or never end
    text = decode_utf8(read_user_file(p, "parts file", MAX_PARTS_BYTES), f"parts file {p}", str(p))
    text = text.removeprefix("\ufeff")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:  # RecursionError: nested too deep
            raise UserError(f"parts file {p} is not valid JSON: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise UserError(f"parts file {p} must be a JSON object of item id -> part name")
        return {str(k): v for k, v in data.items()}
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"item_id", "part"} <= set(rows[0]):
        raise UserError(
            f"parts file {p} needs a header with columns item_id and part",
            fix="e.g.\nitem_id,part\ndev_0001,existing_benchmarks",
        )
    return {r["item_id"]: r["part"] for r in rows if r["item_id"]}
