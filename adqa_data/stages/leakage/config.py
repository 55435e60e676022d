"""`check-leakage`'s settings, declared once: the command's options and a pipeline step's keys come from
here."""

from __future__ import annotations

from pydantic import Field, field_validator

from ...core.stage_settings import DatasetSettings

METHODS = ("audio_sha256", "audio_fingerprint", "text")
# reference items sharing one question + options text: a template ("How many clicks?"), not flagged
TEMPLATE_MIN = 3


class LeakageConfig(DatasetSettings):
    """Which training dataset to check, against which dev/eval datasets, and by which matchers."""

    against: list[str] | None = Field(
        None,
        description="dev/eval dataset to check against (default: every dev and eval dataset of the workspace)",
    )
    method: list[str] = Field(
        list(METHODS),
        min_length=1,
        description=f"the matchers: {' | '.join(METHODS)}",
    )
    template_min: int = Field(
        TEMPLATE_MIN,
        ge=0,
        description="a question + options text shared by this many reference items is a template, not "
        "flagged (0: flag every text match)",
    )
    workers: int | None = Field(None, ge=1, description="processes fingerprinting audio (default 1)")

    @field_validator("method")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        bad = [m for m in methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {', '.join(bad)} (use {', '.join(METHODS)})")
        return [m for m in METHODS if m in methods]  # the table's order, each once
