"""The policy a rollout samples from: its backend, loaded once by whoever owns it, and its anchoring pass.

Loading the model once per run (in-process) or once per Ray worker, not per shard, is what makes the
shard a cheap unit of work. Loaded policies are held by a `Policies` object, owned by one run (closed
when it ends), by a caller that rolls out several times with one model (it closes it), or by a Ray
worker for its life: nothing loaded stays behind in a module for the next stage to pick up.
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


def policy_spec(cfg: RolloutConfig) -> dict[str, Any]:
    """What loading the policy takes (JSON-able: it travels to Ray workers): the shared backend block's
    spec, with the remote-code permission and vLLM revision rollout adds (`RolloutConfig.load_options`)."""
    return cfg.policy_spec()


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


class Policies:
    """Loaded policies by their spec: `get` loads a spec's policy on first use, `close` releases them
    all. A rollout run owns one unless its caller passes one in (to keep the model loaded for another
    run with the same policy settings, then close it)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Policy] = {}

    def get(self, spec: Mapping[str, Any]) -> Policy:
        """The policy `spec` names, loaded the first time it is asked for."""
        key = stable_hash(dict(spec))
        if key not in self._loaded:
            backend = load_backend(
                spec["backend"],
                spec["model"],
                family=spec["family"],
                device=spec["device"],
                dtype=spec["dtype"],
                **dict(spec.get("options") or {}),
            )
            self._loaded[key] = Policy(backend, dict(spec))
        return self._loaded[key]

    def close(self) -> None:
        """Release every loaded model."""
        while self._loaded:
            _, policy = self._loaded.popitem()
            policy.close()

    def __enter__(self) -> Policies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
