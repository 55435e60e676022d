"""The rollout stage's policy as an explicit collaborator: a caller that has the model loaded (online
training) passes its `Policy` to `rollout(policy=...)`; the stage samples with it and never loads one,
leaves it open (the caller's), and refuses to send it to Ray workers. Nothing is looked up in a
module-level table. Scripted backend, no model."""

from __future__ import annotations

import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.workspace import Workspace
from adqa_data.inference.scripted import ScriptedBackend
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config, policy, rollout
from adqa_data.stages.rollout.policy import Policy, policy_spec
from adqa_data.stages.sample import sample

DS = "audiomcq"


class CountingBackend(ScriptedBackend):
    """The scripted sampler, counting the prompts it is asked and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.asked, self.closed = 0, False

    def generate(self, queries, sampling):
        self.asked += len(queries)
        return super().generate(queries, sampling)

    def close(self) -> None:
        self.closed = True


def test_a_provided_policy_is_sampled_with_and_stays_the_callers(tmp_path, clean_demo_roots, monkeypatch):
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=4, split="all", seed=0)
    cfg = load_config(None, backend="scripted", k=2)

    def no_load(*args, **kwargs):
        raise AssertionError("the stage loaded a policy although one was provided")

    monkeypatch.setattr(policy, "load_backend", no_load)
    backend = CountingBackend()
    provided = Policy(backend, policy_spec(cfg))
    res = rollout(ws, cfg, name="given", policy=provided)
    assert res.groups == 4 and backend.asked == 4 and not backend.closed
    with pytest.raises(UserError, match="in this process"):
        rollout(ws, cfg, name="ray", engine="ray", policy=provided)
    # without one, the stage loads the policy the config names (here: the spy refuses)
    with pytest.raises(AssertionError, match="loaded a policy"):
        rollout(ws, cfg, name="loaded")
