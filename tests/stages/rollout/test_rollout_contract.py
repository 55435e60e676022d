"""The rollout set's contract (`stages.rollout.contract`), the one reader of a rollout set: settings a
provenance record lacks take the rollout config's defaults (or the value rollout used before the
setting existed), shard boundaries come from the run's record, an edited shard is refused, sets sampled
differently are not trained together, refused items are quarantined with their row, and every reader
(train, stats, export) goes through it on scripted rollouts (no model)."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.rollout import contract, rollout
from adqa_data.stages.rollout import load_config as rollout_config
from adqa_data.stages.rollout.config import RECORDED_BEFORE, RolloutConfig
from adqa_data.stages.sample import sample

DS = "audiomcq"


@pytest.fixture(scope="module")
def rolled(tmp_path_factory, clean_demo_roots) -> Workspace:
    """download -> sample 8 -> a scripted rollout `s` in shards of 3 groups (3 + 3 + 2)."""
    ws = Workspace(tmp_path_factory.mktemp("contract") / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=8, split="all", seed=0)
    cfg = rollout_config(None, backend="scripted", k=4, shard_size=3, temperature=0.7, max_new_tokens=64)
    rollout(ws, cfg, name="s")
    return ws


@pytest.fixture
def ws(rolled, tmp_path) -> Workspace:
    shutil.copytree(rolled.root, tmp_path / "w")
    return Workspace(tmp_path / "w")


def _edit_record(ws: Workspace, name: str, drop: tuple[str, ...] = (), **values) -> None:
    path = ws.provenance_path("rollout", DS, name)
    record = json.loads(path.read_text())
    for key in drop:
        del record["config"][key]
    record["config"].update(values)
    path.write_text(json.dumps(record))


def test_the_recorded_settings_are_the_sets_own(ws):
    s = contract.open_set(ws, DS, "s")
    assert (s.config.temperature, s.config.max_new_tokens, s.config.k, s.config.shard_size) == (0.7, 64, 4, 3)
    info = s.sampling()
    assert (info.temperature, info.max_new_tokens, info.backend, info.k) == (0.7, 64, "scripted", 4)
    assert info.advantage == {
        "baseline": "mean",
        "scale": "batch",
        "min_spread": 0.05,
        "std": "sample",
        "eps": 1e-4,
    }


def test_a_setting_the_record_lacks_gets_the_config_default(ws):
    _edit_record(ws, "s", drop=("max_new_tokens", "top_p", "temperature", "scale", "min_spread"))
    s = contract.open_set(ws, DS, "s")
    defaults = RolloutConfig()
    assert (s.config.max_new_tokens, s.config.top_p, s.config.temperature) == (
        defaults.max_new_tokens,
        defaults.top_p,
        defaults.temperature,
    )
    # settings added after sets were first recorded: the value rollout used before they existed
    assert (s.config.scale, s.config.min_spread) == (RECORDED_BEFORE["scale"], RECORDED_BEFORE["min_spread"])
    assert RECORDED_BEFORE["scale"] != defaults.scale  # so the test tells the two tables apart
    groups, info = contract.load_rollout_groups(ws, DS, ["s"])
    assert info.max_new_tokens == defaults.max_new_tokens and info.advantage["scale"] == "group"


def test_shard_boundaries_come_from_the_record(ws):
    s = contract.open_set(ws, DS, "s")
    assert s.shard_rows() == [12, 12, 8]  # 3, 3 and 2 groups of K=4
    groups, _ = contract.load_rollout_groups(ws, DS, ["s"])
    assert [g.batch for g in groups] == ["s/0"] * 3 + ["s/1"] * 3 + ["s/2"] * 2
    assert all([c.index for c in g.completions] == [0, 1, 2, 3] for g in groups)


def test_a_shard_edited_after_writing_is_refused(ws):
    part = sorted(contract.open_set(ws, DS, "s").directory.glob("part-*.parquet"))[1]
    table = pq.read_table(part)
    rewards = table.column("reward").to_pylist()
    edited = table.set_column(
        table.column_names.index("reward"), "reward", [[1.0 - r for r in rewards]]
    ).replace_schema_metadata(table.schema.metadata)
    pq.write_table(edited, part)
    with pytest.raises(UserError, match="does not match the record"):
        contract.load_rollout_groups(ws, DS, ["s"])
    with pytest.raises(UserError, match="does not match the record"):
        contract.open_set(ws, DS, "s").table()


def test_an_incomplete_or_unknown_set_is_refused(ws):
    with pytest.raises(UserError, match="no complete rollout set 'nope'"):
        contract.open_set(ws, DS, "nope")
    path = ws.provenance_path("rollout", DS, "s")
    record = json.loads(path.read_text())
    record["status"] = "running"
    path.write_text(json.dumps(record))
    assert contract.finished_sets(ws, DS) == []
    with pytest.raises(UserError, match="no complete rollout set 's'"):
        contract.open_set(ws, DS, "s")


def test_sets_from_different_samplers_are_not_trained_together(ws):
    rollout(ws, rollout_config(None, backend="scripted", k=4, temperature=1.0), name="t")
    with pytest.raises(UserError, match="another temperature"):
        contract.load_rollout_groups(ws, DS, ["s", "t"])
    assert contract.finished_sets(ws, DS) == ["s", "t"]
    with pytest.raises(UserError, match="several rollout sets"):
        contract.pick_set(ws, DS, None)


def test_refused_items_are_quarantined_with_their_row(ws):
    groups, _ = contract.load_rollout_groups(ws, DS, ["s"])
    victim = groups[0]
    victim.audio_sha256 = "0" * 64  # the clip is no longer the one download recorded
    kept, rows = contract.check_groups(ws, DS, groups)
    assert victim.item_id not in {g.item_id for g in kept} and len(kept) == len(groups) - 1
    assert [r["item_id"] for r in rows] == [victim.item_id]
    assert rows[0]["reason"] and isinstance(rows[0]["row_index"], int)


def test_stats_and_export_read_through_the_contract(ws):
    from adqa_data.export.source import read_rollouts, rollout_sets
    from adqa_data.stages.rollout.summary import summarize
    from adqa_data.stages.stats import stats

    s = contract.open_set(ws, DS, "s")
    own = summarize(s.table(), s.config)
    section = stats(ws, DS, sections=["rollouts"])["sections"]["rollouts"]["s"]
    for key in ("groups", "rows", "k", "accuracy", "zero_signal_share", "zero_signal_groups", "parse"):
        assert section[key] == own[key], key
    assert section["zero_signal_flag_share"] == own["zero_signal_share"]
    assert rollout_sets(ws, DS) == ["s"]
    name, table = read_rollouts(ws, DS, None)
    assert name == "s" and table.num_rows == own["rows"] and table.schema.names == ROLLOUTS.schema.names
