"""sample: type-balanced draws from the strong split, weights, refusals and reproducibility."""

from collections import Counter

import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import ITEM_SCORES, ITEMS, PROMPTS
from adqa_data.core.workspace import DatasetRecord, StageRun, Workspace
from adqa_data.stages.sample import allot, draw, parse_weights, sample


def _pool(counts: dict[str, int]) -> list[dict]:
    return [
        {"item_id": f"{t}_{i:03d}", "question_type": t, "source_dataset": f"src{i % 3}", "answer_index": 0}
        for t, c in counts.items()
        for i in range(c)
    ]


def _workspace(tmp_path, counts: dict[str, int], strong_every: int = 1) -> Workspace:
    """A workspace with planted items and a planted filter split (every `strong_every`-th item strong)."""
    ws = Workspace(tmp_path / "w")
    pool = _pool(counts)
    items = [
        {
            "item_id": p["item_id"],
            "dataset": "d",
            "split": "train",
            "source_dataset": p["source_dataset"],
            "question_type": p["question_type"],
            "question": "q?",
            "choices": ["a", "b"],
            "answer_index": 0,
            "answer_text": "a",
            "audio_path": "x.wav",
            "audio_sha256": "0" * 64,
            "duration_s": 1.0,
            "sample_rate": 16000,
            "num_channels": 1,
            "row_index": i,
        }
        for i, p in enumerate(pool)
    ]
    StageRun.write_shard(ws.table_dir("items", "d"), 0, ITEMS.from_pylist(items), ITEMS)
    scores = [
        {"dataset": "d", "item_id": p["item_id"], "split": "strong" if i % strong_every == 0 else "weak"}
        for i, p in enumerate(pool)
    ]
    StageRun.write_shard(ws.table_dir("item_scores", "d"), 0, ITEM_SCORES.from_pylist(scores), ITEM_SCORES)
    ws.register_dataset(DatasetRecord("d", str(tmp_path), "audiomcq", "train", "dir:test"))
    return ws


def test_allot_uniform_with_shortfall_redistributed():
    q = allot(30, {"sound": 100, "music": 4, "speech": 100}, {"sound": 1, "music": 1, "speech": 1})
    assert q == {"music": 4, "sound": 13, "speech": 13}
    assert allot(10, {"a": 3, "b": 3}, {"a": 1, "b": 1}) == {"a": 3, "b": 3}  # supply-limited
    assert allot(10, {"a": 50, "b": 50}, {"a": 3, "b": 1}) == {"a": 8, "b": 2}  # 7.5/2.5: tie -> name order
    assert allot(9, {"a": 50, "b": 50, "c": 50}, {"a": 1, "b": 0, "c": 1}) == {"a": 5, "b": 0, "c": 4}


def test_draw_is_balanced_unique_and_seeded():
    pool = _pool({"sound": 300, "music": 60, "speech": 40, "temporal": 100})
    chosen = draw(pool, 120, "uniform", seed=3)
    assert len(chosen) == 120 and len({c["item_id"] for c in chosen}) == 120
    assert Counter(c["question_type"] for c in chosen) == {
        "sound": 30,
        "music": 30,
        "speech": 30,
        "temporal": 30,
    }
    assert draw(list(reversed(pool)), 120, "uniform", seed=3) == chosen  # independent of pool order
    assert draw(pool, 120, "uniform", seed=4) != chosen
    prop = Counter(c["question_type"] for c in draw(pool, 100, "proportional", seed=0))
    assert prop == {"sound": 60, "music": 12, "speech": 8, "temporal": 20}
    weighted = Counter(
        c["question_type"] for c in draw(pool, 100, parse_weights("sound=2,music=1,speech=1,temporal=0"), 0)
    )
    assert weighted == {"sound": 50, "music": 25, "speech": 25}
    # any prefix of the draw order is roughly balanced too (types interleaved, not blocked)
    assert len({c["question_type"] for c in chosen[:12]}) >= 3


def test_sample_stage_uses_the_strong_split(tmp_path):
    ws = _workspace(tmp_path, {"sound": 40, "music": 40, "speech": 40}, strong_every=2)
    res = sample(ws, n=30, seed=1)
    rows = ws.read(PROMPTS, "d", res.name).to_pylist()
    assert len(rows) == 30 and [r["draw"] for r in rows] == list(range(30))
    strong = {r["item_id"] for r in ws.read(ITEM_SCORES, "d").to_pylist() if r["split"] == "strong"}
    assert {r["item_id"] for r in rows} <= strong
    assert res.by_type["sound"] == {"pool": 20, "chosen": 10}
    again = sample(ws, n=30, seed=1)
    assert again.up_to_date and again.n == 30
    assert ws.read(PROMPTS, "d", res.name).to_pylist() == rows
    other = sample(ws, n=30, seed=2, split="weak")
    assert other.name != res.name and ws.read(PROMPTS, "d", res.name).num_rows == 30  # both sets kept


def test_sample_errors(tmp_path):
    ws = _workspace(tmp_path, {"sound": 5})
    with pytest.raises(UserError, match="fewer than --n"):
        sample(ws, n=50)
    with pytest.raises(UserError, match="not in the pool"):
        sample(ws, n=2, weights="bogus=1")
    with pytest.raises(UserError, match="TYPE=WEIGHT"):
        parse_weights("sound")


def test_sample_without_filter_says_what_to_run(tmp_path, clean_demo_roots):
    from adqa_data.stages.download import download

    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=clean_demo_roots["audiomcq"])
    with pytest.raises(UserError, match="run 'adqa-data filter' first"):
        sample(ws, n=5)
    res = sample(ws, n=9, split="all")
    assert res.n == 9 and set(res.by_type) == {"music", "sound", "temporal"}
    assert all(v["chosen"] == 3 for v in res.by_type.values())
