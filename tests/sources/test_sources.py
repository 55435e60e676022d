"""`adqa_data.sources`: each upstream recipe reads a tiny local copy in its own layout, built here.

- AudioMCQ (`data.jsonl`, audio in one folder per source corpus, the answer as an option's text, Gemini's
  chain of thought), DCASE 2026 dev (`dev.jsonl` + `dev_audios/`) and eval (`eval-noanswer.jsonl`, no
  answers: one that leaks into the manifest is kept in `upstream`, never used), and the generic layout
  (JSONL or Parquet, a column mapping) map their rows onto the item fields, keep unmodelled columns in
  `upstream`, and are found by `detect_layout` from their manifest alone.
- Rows a recipe cannot use raise `RowError` with the quarantine reason (and the row's id when it has
  one): not JSON, not UTF-8, missing or mistyped fields, too few/many/duplicate options, an answer that is
  no option, an audio path that is absolute or climbs out of the root, text over the limit.
- Reading: blank lines are skipped, a byte order mark is dropped, row indices count non-blank lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import QuarantineReason as R
from adqa_data.sources import LAYOUTS, detect_layout, get_layout
from adqa_data.sources.base import RowError, RowLimits, map_and_validate, read_jsonl, read_parquet_rows

CHOICES = ["a dog barking", "a cat meowing", "a bird singing", "a car horn"]


def write_jsonl(path: Path, rows: list, raw_lines: list[bytes] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r).encode() for r in rows] + list(raw_lines)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def clip(root: Path, rel: str) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(b"RIFF")  # sources never open audio: download probes it later
    return rel


def read(root: Path, layout=None):
    """(layout, mapped rows) of a dataset root, the way download reads it."""
    lay = layout or detect_layout(root)
    path = root / lay.manifest
    rows = read_parquet_rows(path) if path.suffix == ".parquet" else read_jsonl(path)
    return lay, [map_and_validate(lay, r) for r in rows]


# ------------------------------------------------------------------------------------------- recipes
def test_audiomcq_copy(tmp_path):
    root = tmp_path / "audiomcq"
    rows = [
        {
            "source_dataset": corpus,
            "id": f"{corpus}-{i}",
            "question_type": qtype,
            "audio_path": clip(root, f"{corpus}/{i}.{ext}"),
            "question": f"What is heard in clip {i}?",
            "choices": CHOICES,
            "answer": CHOICES[i],
            "gemini_cot": f"I hear {CHOICES[i]}.",
            "audio-contribution": "strong",
        }
        for i, (corpus, qtype, ext) in enumerate(
            [("AudioCaps", "sound", "wav"), ("MusicCaps", "music", "mp3"), ("SpeechCraft", "speech", "wav")]
        )
    ]
    write_jsonl(root / "data.jsonl", rows)
    lay, got = read(root)
    assert lay.name == "audiomcq" and lay.split == "train"
    assert [r.item_id for r in got] == ["AudioCaps-0", "MusicCaps-1", "SpeechCraft-2"]
    for i, r in enumerate(got):
        assert (r.answer_index, r.answer_text, r.choices) == (i, CHOICES[i], CHOICES)
        assert r.audio_path == rows[i]["audio_path"] and (root / r.audio_path).is_file()
        assert r.cot == f"I hear {CHOICES[i]}." and r.source_dataset == rows[i]["source_dataset"]
        assert r.question_type == rows[i]["question_type"] and r.row_index == i
        assert r.upstream == {"audio-contribution": "strong"}


def test_dcase_dev_copy(tmp_path):
    root = tmp_path / "dev"
    rows = [
        {
            "id": f"dev_{i:04d}",
            "question_text": f"Question {i}?",
            "multi_choice": CHOICES,
            "answer": CHOICES[3 - i],
            "audio_path": clip(root, f"dev_audios/dev_{i:04d}.wav"),
            "question_type": "sound",
            "part": "p1",
        }
        for i in range(2)
    ]
    write_jsonl(root / "dev.jsonl", rows)
    lay, got = read(root)
    assert lay.name == "dcase2026-dev" and lay.split == "dev" and lay.has_answers
    assert [(r.item_id, r.question, r.answer_index) for r in got] == [
        ("dev_0000", "Question 0?", 3),
        ("dev_0001", "Question 1?", 2),
    ]
    assert got[0].audio_path == "dev_audios/dev_0000.wav" and got[0].upstream == {"part": "p1"}


def test_dcase_eval_copy_withholds_answers(tmp_path):
    root = tmp_path / "eval"
    rows = [
        {
            "id": "eval_0000",
            "question_text": "Q?",
            "multi_choice": CHOICES,
            "audio_path": "eval_audios/0.wav",
        },
        # an answer that leaks into the eval manifest is kept verbatim, never used as gold
        {
            "id": "eval_0001",
            "question_text": "Q?",
            "multi_choice": CHOICES,
            "audio_path": "eval_audios/1.wav",
            "answer": CHOICES[1],
        },
    ]
    write_jsonl(root / "eval-noanswer.jsonl", rows)
    lay, got = read(root)
    assert lay.name == "dcase2026-eval" and lay.split == "eval" and not lay.has_answers
    assert [(r.answer_index, r.answer_text) for r in got] == [(None, None), (None, None)]
    assert got[1].upstream == {"answer": CHOICES[1]} and got[0].upstream == {}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_generic_copy_with_a_mapping(tmp_path, fmt):
    root = tmp_path / "generic"
    rows = [
        {
            "qid": 7 + i,
            "q": f"Which {i}?",
            "options": CHOICES,
            "label": CHOICES[i],
            "answer": CHOICES[(i + 1) % 4],  # a column of that name which is not the mapped answer
            "wav": f"clips/{i}.wav",
            "x": i,
        }
        for i in range(3)
    ]
    manifest = f"rows.{fmt}"
    if fmt == "jsonl":
        write_jsonl(root / manifest, rows)
    else:
        root.mkdir()
        pq.write_table(pa.Table.from_pylist(rows), root / manifest)
    mapping = {
        "item_id": "qid",
        "question": "q",
        "choices": "options",
        "answer": "label",
        "audio_path": "wav",
    }
    lay = get_layout("generic", root, manifest, mapping, "train")
    _, got = read(root, lay)
    assert [(r.item_id, r.question, r.answer_index, r.audio_path) for r in got] == [
        (str(7 + i), f"Which {i}?", i, f"clips/{i}.wav") for i in range(3)
    ]
    assert [r.upstream for r in got] == [{"x": i, "answer": CHOICES[(i + 1) % 4]} for i in range(3)]
    # without answers (`--map answer=`): no column is read as the answer, they all stay upstream
    lay = get_layout("generic", root, manifest, {**mapping, "answer": ""}, "eval")
    _, got = read(root, lay)
    assert all(r.answer_index is None for r in got)
    assert got[0].upstream == {"x": 0, "label": CHOICES[0], "answer": CHOICES[1]}


def test_layout_detection_and_naming(tmp_path):
    assert set(LAYOUTS) == {"audiomcq", "dcase2026-dev", "dcase2026-eval"}
    with pytest.raises(UserError, match="no known manifest"):
        detect_layout(tmp_path)
    write_jsonl(tmp_path / "dev.jsonl", [])
    assert detect_layout(tmp_path).name == "dcase2026-dev"
    write_jsonl(tmp_path / "data.jsonl", [])
    with pytest.raises(UserError, match="several manifests"):
        detect_layout(tmp_path)
    assert get_layout("audiomcq", tmp_path).name == "audiomcq"
    with pytest.raises(UserError, match="unknown layout"):
        get_layout("clotho", tmp_path)
    with pytest.raises(UserError, match="needs --manifest"):
        get_layout("generic", tmp_path)
    with pytest.raises(UserError, match="unknown canonical field"):
        get_layout("generic", tmp_path, "rows.jsonl", {"labels": "y"})


# ------------------------------------------------------------------------------------------ bad rows
GOOD = {
    "id": "x1",
    "question_text": "Q?",
    "multi_choice": CHOICES,
    "answer": CHOICES[0],
    "audio_path": "a/1.wav",
}
BAD_ROWS = [
    ({"id": "x1"}, R.MISSING_FIELD),
    ({**GOOD, "question_text": "  "}, R.MISSING_FIELD),
    ({**GOOD, "question_text": 3}, R.BAD_FIELD),
    ({**GOOD, "multi_choice": "a dog"}, R.BAD_FIELD),
    ({**GOOD, "multi_choice": ["a", 2]}, R.BAD_FIELD),
    ({**GOOD, "multi_choice": ["only one"], "answer": "only one"}, R.TOO_FEW_CHOICES),
    ({**GOOD, "multi_choice": [f"o{i}" for i in range(11)], "answer": "o0"}, R.TOO_MANY_CHOICES),
    ({**GOOD, "multi_choice": ["A dog", "a  dog", "cat"], "answer": "cat"}, R.DUPLICATE_CHOICES),
    ({**GOOD, "multi_choice": ["a", " ", "c"], "answer": "a"}, R.BAD_FIELD),
    ({**GOOD, "answer": "a horse"}, R.ANSWER_NOT_IN_CHOICES),
    ({**GOOD, "answer": 1}, R.BAD_FIELD),
    ({**GOOD, "audio_path": "/etc/passwd"}, R.ABSOLUTE_PATH),
    ({**GOOD, "audio_path": "C:\\clips\\1.wav"}, R.ABSOLUTE_PATH),
    ({**GOOD, "audio_path": "a/../../x.wav"}, R.PATH_ESCAPES_ROOT),
    ({**GOOD, "audio_path": "a/\u0000.wav"}, R.BAD_FIELD),
    ({**GOOD, "audio_path": ""}, R.MISSING_FIELD),
    ({**GOOD, "id": True}, R.BAD_FIELD),
    ({**GOOD, "id": ""}, R.BAD_FIELD),
    ({**GOOD, "question_text": "x" * 10_001}, R.TEXT_TOO_LONG),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS, ids=[f"{r}-{i}" for i, (_, r) in enumerate(BAD_ROWS)])
def test_a_bad_row_gets_its_reason_and_keeps_its_id(tmp_path, row, reason):
    path = write_jsonl(tmp_path / "dev.jsonl", [GOOD, row])
    layout = get_layout("dcase2026-dev", tmp_path)
    good, bad = list(read_jsonl(path))
    assert map_and_validate(layout, good).item_id == "x1"
    with pytest.raises(RowError) as err:
        map_and_validate(layout, bad, RowLimits())
    assert err.value.reason == reason and err.value.detail
    keeps = isinstance(row.get("id"), (str, int)) and not isinstance(row.get("id"), bool)
    assert err.value.item_id == (str(row["id"]) if keeps else None)


def test_answers_match_ignoring_case_and_spacing_and_paths_are_normalised(tmp_path):
    row = {**GOOD, "answer": "  A   CAT meowing ", "audio_path": "a/./b/../1.wav"}
    path = write_jsonl(tmp_path / "dev.jsonl", [row])
    (raw,) = read_jsonl(path)
    got = map_and_validate(get_layout("dcase2026-dev", tmp_path), raw)
    assert got.answer_index == 1 and got.answer_text == CHOICES[1] and got.audio_path == "a/1.wav"


def test_unreadable_lines_are_rows_with_their_reason(tmp_path):
    path = write_jsonl(
        tmp_path / "dev.jsonl",
        [GOOD],
        [
            b"",
            b"   ",
            b"{not json",
            b"[1, 2]",
            b'{"id": "\xff\xfe"}',
            b'{"id": "s", "question_text": "\\ud800"}',
        ],
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a byte order mark before the first row
    rows = list(read_jsonl(path))
    assert [r.row_index for r in rows] == [0, 1, 2, 3, 4]  # blank lines are not rows
    layout = get_layout("dcase2026-dev", tmp_path)
    assert map_and_validate(layout, rows[0]).item_id == "x1"
    reasons = []
    for r in rows[1:]:
        with pytest.raises(RowError) as err:
            map_and_validate(layout, r)
        reasons.append(err.value.reason)
    assert reasons == [R.INVALID_JSON, R.INVALID_JSON, R.INVALID_JSON, R.BAD_FIELD]
    assert rows[3].error and "\\xff" in rows[3].raw  # shown escaped, quarantined rather than fatal


def test_limits_are_the_ones_given(tmp_path):
    row = {**GOOD, "multi_choice": [f"o{i}" for i in range(5)], "answer": "o0"}
    (raw,) = read_jsonl(write_jsonl(tmp_path / "dev.jsonl", [row]))
    layout = get_layout("dcase2026-dev", tmp_path)
    assert map_and_validate(layout, raw).choices == row["multi_choice"]
    with pytest.raises(RowError, match="at most 4"):
        map_and_validate(layout, raw, RowLimits(max_options=4))
    with pytest.raises(RowError) as err:
        map_and_validate(layout, raw, RowLimits(max_text_chars=5))
    assert err.value.reason == R.TEXT_TOO_LONG
    with pytest.raises(UserError):
        RowLimits(max_options=11).check()
