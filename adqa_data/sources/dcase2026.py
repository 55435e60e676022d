"""DCASE 2026 Task 5 (ADQA) layouts.

Development set (`Harland/DCASE2026-Task5-DevSet`): `dev.jsonl` + `dev_audios/`, 1,607 rows:
`{"id": "dev_0001", "question_text", "multi_choice": [...], "answer": "<one of multi_choice>",
"audio_path": "dev_audios/dev_0001.wav"}`.
Evaluation set (`Harland/ADQA-Bench`): `eval-noanswer.jsonl` + `eval_audios/`, 3,000 rows, no answers.
The submission needs the id and the exact option string, so both are kept verbatim.
"""

from __future__ import annotations

from typing import Any

from .base import rest, take, take_id

USED = {"id", "question_text", "multi_choice", "answer", "audio_path", "question_type"}


class DcaseDevLayout:
    name = "dcase2026-dev"
    split = "dev"
    manifest = "dev.jsonl"
    has_answers = True

    def map_row(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "item_id": take_id(obj, "id"),
            "question": take(obj, "question_text"),
            "choices": take(obj, "multi_choice", list),
            "answer": take(obj, "answer", required=self.has_answers),
            "audio_path": take(obj, "audio_path"),
            "question_type": take(obj, "question_type", required=False),
            "upstream": rest(obj, USED),
        }


class DcaseEvalLayout(DcaseDevLayout):
    name = "dcase2026-eval"
    split = "eval"
    manifest = "eval-noanswer.jsonl"
    has_answers = False

    def map_row(self, obj: dict[str, Any]) -> dict[str, Any]:
        out = super().map_row(obj)
        out["answer"] = None  # withheld: never trust an answer that leaks into an eval manifest
        if "answer" in obj:
            out["upstream"]["answer"] = obj["answer"]
        return out
