"""Any JSONL or Parquet manifest, with a column mapping onto the item table.

`--layout generic --manifest rows.jsonl --map item_id=qid --map question=q --map choices=options
--map answer=label --map audio_path=wav`. Canonical fields: item_id, question, choices, answer (the
text of one choice; leave unmapped for a set without answers), audio_path, and optionally
source_dataset, question_type, cot. Unmapped columns are kept verbatim in `upstream_json`.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import UserError
from .base import rest, take, take_id

REQUIRED = ("item_id", "question", "choices", "audio_path")
OPTIONAL = ("answer", "source_dataset", "question_type", "cot")
DEFAULTS = {
    "item_id": "id",
    "question": "question",
    "choices": "choices",
    "answer": "answer",
    "audio_path": "audio_path",
    "source_dataset": "source_dataset",
    "question_type": "question_type",
    "cot": "cot",
}


class GenericLayout:
    name = "generic"

    def __init__(
        self,
        manifest: str,
        mapping: dict[str, str] | None = None,
        split: str = "train",
        has_answers: bool = True,
    ):
        unknown = set(mapping or {}) - set(REQUIRED) - set(OPTIONAL)
        if unknown:
            raise UserError(
                f"unknown canonical field(s) in --map: {', '.join(sorted(unknown))}",
                fix=f"map onto: {', '.join(REQUIRED + OPTIONAL)}",
            )
        self.mapping = {**DEFAULTS, **(mapping or {})}
        self.manifest = manifest
        self.split = split
        self.has_answers = has_answers

    def map_row(self, obj: dict[str, Any]) -> dict[str, Any]:
        m = self.mapping
        out: dict[str, Any] = {
            "item_id": take_id(obj, m["item_id"]),
            "question": take(obj, m["question"]),
            "choices": take(obj, m["choices"], list),
            "audio_path": take(obj, m["audio_path"]),
            "answer": take(obj, m["answer"], required=self.has_answers) if self.has_answers else None,
        }
        for f in ("source_dataset", "question_type", "cot"):
            out[f] = take(obj, m[f], required=False)
        used = {m[f] for f in REQUIRED + OPTIONAL if f != "answer" or self.has_answers}
        out["upstream"] = rest(obj, used)
        return out
