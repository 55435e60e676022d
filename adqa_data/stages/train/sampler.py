"""What an online round's rollout samples with, handed to the rollout stage explicitly (`rollout(...,
policy=...)`), so the trainer's weights are sampled from without a second copy:

- transformers: a backend around the trainer's own model — one copy of the weights in memory, switched
  to eval mode while it samples. The round's weights are also exported to `rounds/round-<k>/policy/` in
  the run folder: the rollout's record names that checkpoint (its tokenizer, its fingerprint).
- vllm (GPU): one engine for the whole run; before round k >= 2 it reloads its weights from that export
  (`VLLMBackend.reload_weights`: every worker reads the files into its model's own `load_weights`), and
  its prefix cache is reset. The engine shares the GPU with the trainer: give it a share of the memory in
  the rollout settings (`backend_options: {engine_kwargs: {gpu_memory_utilization: 0.3}}`). Exercised by
  `benchmarks/gpu_smoke.sh` (it needs a GPU; the CPU tests cover the transformers path).
- any other backend: nothing is handed over; the rollout stage loads the round's export itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..rollout.config import RolloutConfig
from ..rollout.policy import Policy, policy_spec

if TYPE_CHECKING:  # pragma: no cover
    from ...train.loop import Trainer


@contextlib.contextmanager
def sampling_mode(module: Any) -> Iterator[None]:
    """Every submodule in eval mode while the policy samples (gradient checkpointing and dropout act in
    training mode only), then each back to the mode it had."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.train(training)


class Sampler:
    """The policy each round's rollout samples with (module docstring); `close` releases a vLLM engine."""

    def __init__(self, trainer: Trainer, rollout_cfg: RolloutConfig):
        self.trainer, self.cfg = trainer, rollout_cfg
        self.engine: Any = None  # the vLLM engine, built on first use

    @contextlib.contextmanager
    def serving(self, sampler_path: str) -> Iterator[Policy | None]:
        """The policy serving `sampler_path`'s weights for one round's rollout (None: the stage loads
        the export)."""
        cfg = self.cfg.model_copy(update={"model": sampler_path})
        spec = policy_spec(cfg)
        model = self.trainer.policy.model
        if cfg.backend == "transformers" and getattr(model.adapter, "consumes", "audio") == "audio":
            from ...inference.transformers_backend import TransformersBackend

            options = {k: v for k, v in cfg.backend_options.items() if k != "trust_remote_code"}
            backend = TransformersBackend(sampler_path, loaded=model, **options)
            try:
                with sampling_mode(model.module):
                    yield Policy(backend, spec)
            finally:
                backend.close()  # its prefix caches only: the model is the trainer's
            return
        if cfg.backend == "vllm":
            if self.engine is None:
                self.engine = self._vllm(sampler_path)
            else:
                self.engine.reload_weights(sampler_path)
            yield Policy(self.engine, spec)
            return
        yield None

    def _vllm(self, path: str) -> Any:
        from ...inference.vllm_backend import WEIGHT_RELOAD_EXTENSION, VLLMBackend

        options = dict(self.cfg.backend_options)
        engine = {**options.pop("engine_kwargs", {}), "worker_extension_cls": WEIGHT_RELOAD_EXTENSION}
        return VLLMBackend(
            path,
            family=self.cfg.family,
            dtype=self.cfg.dtype,
            seed=self.cfg.seed,
            trust_remote_code=self.cfg.trust_remote_code,
            engine_kwargs=engine,
            **options,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
