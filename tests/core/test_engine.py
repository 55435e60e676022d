"""--engine ray gives the same outputs as the in-process default."""

import pytest

from adqa_data.core.workspace import Workspace
from adqa_data.stages import download as dl


def test_ray_engine_gives_identical_outputs(clean_demo_roots, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import ray

    monkeypatch.setattr(dl.probing, "PROBE_CHUNK", 8)
    local = Workspace(tmp_path / "local")
    dl.download(local, from_dir=clean_demo_roots["audiomcq"])
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        distributed = Workspace(tmp_path / "ray")
        dl.download(distributed, from_dir=clean_demo_roots["audiomcq"], engine="ray")
    finally:
        ray.shutdown()
    assert distributed.items("audiomcq").to_pylist() == local.items("audiomcq").to_pylist()
