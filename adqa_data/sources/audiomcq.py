"""AudioMCQ layout: `Harland/AudioMCQ-StrongAC-GeminiCoT` (the official ADQA training set) and copies of it.

Snapshot root: one `data.jsonl` manifest and the audio inline, one folder per source corpus
(AudioCaps, SpeechCraft, CompA-R, Tacos, LP-MusicCaps-MTT, Clotho, MusicCaps; `.wav` or `.mp3`).
A row: `{"source_dataset", "id", "question_type", "audio_path", "question", "choices": [4 str],
"answer": <the text of one choice>, "gemini_cot"}`; some copies add `audio-contribution`. Native split:
train. Columns we do not model are kept verbatim in `upstream_json`.
"""

from __future__ import annotations

from typing import Any

from .base import rest, take, take_id

HUB_REPO = "Harland/AudioMCQ-StrongAC-GeminiCoT"


class AudioMCQLayout:
    name = "audiomcq"
    split = "train"
    manifest = "data.jsonl"
    has_answers = True

    def map_row(self, obj: dict[str, Any]) -> dict[str, Any]:
        used = {
            "id",
            "question",
            "choices",
            "answer",
            "audio_path",
            "source_dataset",
            "question_type",
            "gemini_cot",
        }
        return {
            "item_id": take_id(obj, "id"),
            "question": take(obj, "question"),
            "choices": take(obj, "choices", list),
            "answer": take(obj, "answer"),
            "audio_path": take(obj, "audio_path"),
            "source_dataset": take(obj, "source_dataset", required=False),
            "question_type": take(obj, "question_type", required=False),
            "cot": take(obj, "gemini_cot", required=False),
            "upstream": rest(obj, used),
        }
