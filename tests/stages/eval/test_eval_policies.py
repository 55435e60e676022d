"""Who holds the model an eval run answers with: the run loads it once for all its shards and releases it
at its end (nothing stays loaded in a module for the next run or stage); a caller's `Policies` keeps it
loaded until the caller closes it. Scripted backend, no model."""

from __future__ import annotations

from adqa_data.core.workspace import Workspace
from adqa_data.inference.scripted import ScriptedBackend
from adqa_data.stages.download import download
from adqa_data.stages.eval import EvalConfig, evaluate
from adqa_data.stages.rollout import Policies, policy

DS = "audiomcq"


class Loads:
    """`load_backend` stand-in: scripted backends, each load and close counted."""

    def __init__(self) -> None:
        self.loaded = self.closed = 0

    def __call__(self, kind, model, **kwargs):
        loads = self

        class Backend(ScriptedBackend):
            def close(self) -> None:
                loads.closed += 1

        self.loaded += 1
        return Backend()


def test_a_run_owns_its_model_and_a_callers_policies_keep_theirs(tmp_path, clean_demo_roots, monkeypatch):
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    loads = Loads()
    monkeypatch.setattr(policy, "load_backend", loads)
    cfg = EvalConfig(backend="scripted", max_new_tokens=16, shard_size=4)
    evaluate(ws, cfg, dataset=DS, name="a")
    assert (loads.loaded, loads.closed) == (1, 1)  # once for all shards, released at the end
    evaluate(ws, cfg, dataset=DS, name="b")
    assert (loads.loaded, loads.closed) == (2, 2)  # the next run found nothing loaded
    with Policies() as mine:
        evaluate(ws, cfg, dataset=DS, name="c", policies=mine)
        evaluate(ws, cfg, dataset=DS, name="d", policies=mine)
        assert (loads.loaded, loads.closed) == (3, 2)  # the caller's model: loaded once, still open
    assert loads.closed == 3
