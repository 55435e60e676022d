"""A panel of models for audio-contribution filtering, as written in `pipelines/panels/*.yaml`.

    name: audiomcq
    min_correct: 2            # weak when at least this many members answer correctly on silence
    members:
      - name: r1-aqa
        model: mispeech/r1-aqa    # hub id or local path
        family: qwen2_audio       # optional: detected from config.json when omitted
        backend: vllm             # transformers | vllm
        prompt_style: letters
        mode: letters             # letters | options | generate
        reply_opens_with: answer_tag  # optional: letter | answer_tag | think (how its replies open)

Relative local paths resolve against the YAML file's folder, so a panel file can point at models
stored next to it.

`reply_opens_with` is for a checkpoint the toolkit cannot know: it overrides the family's and the known
checkpoints' opening, and letters mode prefills the reply up to the letter from it (`<answer>` for
answer_tag) or refuses the member (think: use generate mode). See `inference.letter_position`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .letter_position import ReplyOpening


class PanelMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="short name used in the votes table")
    model: str = Field(description="hub id or local checkpoint path")
    family: str | None = Field(None, description="adapter family; detected from config.json when omitted")
    backend: Literal["transformers", "vllm"] = "transformers"
    prompt_style: str = "letters"
    mode: Literal["letters", "options", "generate"] = "letters"
    reply_opens_with: ReplyOpening | None = Field(
        None,
        description="how this checkpoint's replies open whatever the prompt asks; None = as its family or "
        "known checkpoint declares, else as the prompt style asks (letters mode prefills up to the letter)",
    )
    dtype: str = "auto"
    revision: str | None = None
    trust_remote_code: bool = False
    note: str | None = Field(None, description="free text: provenance, caveats")

    @field_validator("family")
    @classmethod
    def _known_family(cls, v: str | None) -> str | None:
        from .adapters import ADAPTERS

        if v is not None and v not in ADAPTERS:
            raise ValueError(f"unknown family {v!r}; known: {sorted(ADAPTERS)}")
        return v

    @model_validator(mode="after")
    def _backend_supported(self) -> PanelMember:
        from .adapters import ADAPTERS

        if self.family and self.backend == "transformers" and not ADAPTERS[self.family].transformers_support:
            raise ValueError(f"family {self.family!r} runs on the vllm backend only (member {self.name!r})")
        return self


class Panel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    min_correct: int = Field(2, ge=1)
    members: list[PanelMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unique(self) -> Panel:
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"member names must be unique: {names}")
        if self.min_correct > len(self.members):
            raise ValueError(f"min_correct={self.min_correct} exceeds the {len(self.members)} members")
        return self


def load_panel(path: str | Path) -> Panel:
    """Read and validate a panel YAML; local model paths become absolute."""
    from ..core.config_files import load_yaml_model

    p = Path(path)
    panel = load_yaml_model(p, Panel, "panel", fix="see pipelines/panels/*.yaml for the keys")
    for m in panel.members:
        local = (p.parent / m.model).resolve()
        if m.model.startswith((".", "/")) or local.exists():
            m.model = str(local)
    return panel
