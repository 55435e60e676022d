"""The policy a rollout samples from: its backend, loaded once per process, and its anchoring pass.

A Ray worker runs many shards; loading the model once per worker (not per shard) is what makes the
shard a cheap unit of work, so loaded policies are cached here by their spec and released by
`close_policies()` when a local run ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core.errors import UserError
from ...core.fingerprints import stable_hash
from ...inference.factory import default_device, default_dtype, load_backend
from ...inference.types import AnchoringScorer, Backend
from .config import RolloutConfig


@dataclass
class Policy:
    """A loaded sampler and, on demand, its anchoring pass."""

    backend: Backend
    spec: dict[str, Any]
    anchorer: AnchoringScorer | None = None
    anchorer_settings: dict[str, Any] | None = None  # the settings `anchorer` was built with

    def anchoring(self, cfg: RolloutConfig) -> AnchoringScorer:
        """The anchoring pass, built the first time a correct completion needs it and rebuilt when a
        later rollout on this loaded policy asks for other anchoring settings (rows, layers, ...)."""
        settings = anchoring_settings(cfg)
        if self.anchorer is not None and self.anchorer_settings != settings:
            self.anchorer.close()
            self.anchorer = None
        if self.anchorer is None:
            self.anchorer = load_anchoring(self, cfg)
            self.anchorer_settings = settings
        return self.anchorer

    def close_anchoring(self) -> None:
        """Release the anchoring pass (the backend stays loaded)."""
        if self.anchorer is not None:
            self.anchorer.close()
            self.anchorer = None

    def close(self) -> None:
        self.close_anchoring()
        self.backend.close()


_POLICIES: dict[str, Policy] = {}


def policy_spec(cfg: RolloutConfig) -> dict[str, Any]:
    """What loading the policy takes (JSON-able: it travels to Ray workers)."""
    options = dict(cfg.backend_options)
    if cfg.backend != "scripted":  # the stage has checked both (inference.trust)
        options["trust_remote_code"] = cfg.trust_remote_code
        if cfg.backend == "vllm" and cfg.revision is not None:
            options["revision"] = cfg.revision
    return {
        "backend": cfg.backend,
        "model": cfg.model,
        "family": cfg.family,
        "device": cfg.device,
        "dtype": cfg.dtype,
        "options": options,
    }


def anchoring_settings(cfg: RolloutConfig) -> dict[str, Any]:
    """What building an anchoring pass takes from the rollout settings (`anchoring_scorer`'s arguments)."""
    return {
        "layers": cfg.anchoring_layers,
        "config": cfg.anchoring_config(),
        "batch_size": cfg.anchoring_batch_size,
    }


def load_anchoring(policy: Policy, cfg: RolloutConfig) -> AnchoringScorer:
    """The backend's own anchoring pass when it has one (transformers reuses its loaded model); else a
    transformers pass loaded next to the sampler (vLLM; on a GPU leave it room: backend_options
    {gpu_memory_utilization: ...})."""
    kwargs = anchoring_settings(cfg)
    scorer = policy.backend.anchoring_scorer(**kwargs)
    if scorer is not None:
        return scorer
    from ...inference.anchoring_pass import AnchoringPass

    device = default_device(policy.spec["device"])
    try:
        return AnchoringPass.load(
            policy.spec["model"],
            policy.spec["family"],
            device=device,
            dtype=default_dtype(policy.spec["dtype"], device),
            **kwargs,
        )
    except UserError as e:
        raise UserError(
            f"the anchoring reward needs the policy in transformers: {e.what}",
            fix="use a family with a transformers implementation, or --reward anchoring=0",
        ) from None


def get_policy(spec: Mapping[str, Any]) -> Policy:
    """The policy a spec names, loaded on first use in this process. (A caller that has the model loaded
    already, online training, passes its `Policy` to the rollout stage instead: `rollout(policy=...)`.)"""
    key = stable_hash(dict(spec))
    if key not in _POLICIES:
        backend = load_backend(
            spec["backend"],
            spec["model"],
            family=spec["family"],
            device=spec["device"],
            dtype=spec["dtype"],
            **dict(spec.get("options") or {}),
        )
        _POLICIES[key] = Policy(backend, dict(spec))
    return _POLICIES[key]


def close_policies() -> None:
    """Release every cached model (the local engine calls this when a run ends)."""
    while _POLICIES:
        _, policy = _POLICIES.popitem()
        policy.close()
