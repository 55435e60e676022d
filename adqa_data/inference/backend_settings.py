"""Which model answers and where it runs: the settings block eval and rollout (and train's sampler)
share, declared once, with the spec a backend is loaded from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class BackendSettings(BaseModel):
    """The model a stage asks, its inference backend, device and dtype. A stage's settings model
    extends this one, so its command takes the same `--backend/--model/--family/--device/--dtype`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # a setting is a finite number

    backend: Literal["transformers", "vllm", "scripted"] = Field(
        "transformers",
        description="transformers runs anywhere (CPU too); vllm is the fast path on GPUs; scripted needs "
        "no model (tests, dry runs)",
    )
    model: str | None = Field(
        None,
        description="a local checkpoint directory or a hub id",
        json_schema_extra={"cli": ["--model", "-m"]},
    )
    family: str | None = Field(
        None, description="model adapter family; detected from config.json when omitted"
    )
    device: str = Field("auto", description="auto = cuda when available, else cpu")
    dtype: str = Field(
        "auto", description="float32 | bfloat16 | float16 | auto (the checkpoint's dtype; float32 on the CPU)"
    )
    backend_options: dict[str, Any] = Field(
        default_factory=dict,
        description="passed to the backend's constructor (batch sizes, vLLM memory); "
        "performance settings only: they are not part of the run key",
    )

    def load_options(self) -> dict[str, Any]:
        """The backend constructor's keyword options: `backend_options` (a stage adds its own)."""
        return dict(self.backend_options)

    def policy_spec(self) -> dict[str, Any]:
        """What loading the model takes (JSON-able: it travels to Ray workers; the policy cache's key)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "family": self.family,
            "device": self.device,
            "dtype": self.dtype,
            "options": self.load_options(),
        }
