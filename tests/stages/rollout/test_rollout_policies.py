"""Who holds a loaded policy: a rollout run loads its model once for all its shards and releases it when
it ends; a caller's `Policies` keeps it loaded across runs until the caller closes it; nothing loaded
stays in a module for the next run or stage. `core.engine.map_with_state` gives each worker (this
process, or a Ray actor) one state for all its tasks. Scripted backend, no model."""

from __future__ import annotations

import pytest

from adqa_data.core.engine import map_with_state
from adqa_data.core.workspace import Workspace
from adqa_data.inference.scripted import ScriptedBackend
from adqa_data.stages.download import download
from adqa_data.stages.rollout import Policies, load_config, policy, rollout
from adqa_data.stages.sample import sample

DS = "audiomcq"


class Loads:
    """`load_backend` stand-in: scripted backends, each load and close recorded."""

    def __init__(self) -> None:
        self.backends: list[ScriptedBackend] = []
        self.closed = 0

    def __call__(self, kind, model, **kwargs):
        assert kind == "scripted"
        loads = self

        class Backend(ScriptedBackend):
            def close(self) -> None:
                loads.closed += 1

        self.backends.append(Backend())
        return self.backends[-1]


@pytest.fixture
def ws(tmp_path, clean_demo_roots, monkeypatch):
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=4, split="all", seed=0)
    return ws


@pytest.fixture
def loads(monkeypatch):
    spy = Loads()
    monkeypatch.setattr(policy, "load_backend", spy)
    return spy


def test_a_run_loads_its_policy_once_and_releases_it(ws, loads):
    cfg = load_config(None, backend="scripted", k=2, shard_size=1)
    res = rollout(ws, cfg, name="a")
    assert res.shards == 4 and (len(loads.backends), loads.closed) == (1, 1)
    rollout(ws, cfg, name="b")  # the next run finds nothing loaded: it loads its own
    assert (len(loads.backends), loads.closed) == (2, 2)


def test_a_callers_policies_keep_the_model_until_it_closes_them(ws, loads):
    cfg = load_config(None, backend="scripted", k=2, shard_size=2)
    with Policies() as policies:
        rollout(ws, cfg, name="a", policies=policies)
        rollout(ws, cfg.model_copy(update={"shard_size": 4}), name="b", policies=policies)
        assert (len(loads.backends), loads.closed) == (1, 0)  # one load for both runs, still open
    assert loads.closed == 1


def test_map_with_state_makes_one_state_per_worker_and_closes_it():
    made, closed = [], []

    def make() -> list[int]:
        made.append([])
        return made[-1]

    def task(state: list[int], t: int) -> int:
        state.append(t)
        return t * 10

    out = list(map_with_state(task, make, closed.append, [1, 2, 3]))
    assert out == [10, 20, 30] and made == [[1, 2, 3]] and closed == made
    assert list(map_with_state(task, make, closed.append, [])) == [] and len(made) == 1
