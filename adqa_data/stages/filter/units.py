"""The keys of the filter stage's units: what one (model, condition) votes directory, or one member's
audit, depends on, and nothing else (not the member's name or note, the device, the engine or the vote
threshold), so reuse is as wide as it is safe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.fingerprints import model_fingerprint, stable_hash
from ...core.schema import VOTES
from ...inference.panel import PanelMember
from ...mcq.prompt_styles import get_style
from .config import FilterConfig

if TYPE_CHECKING:  # pragma: no cover
    from ...core.workspace import StageRun
    from .conditions import ItemRef
    from .jobs import BackendFactory


@dataclass(frozen=True)
class UnitInputs:
    """What planning a run's units takes: the run, the members with their mode in force, the items they
    answer (and their fingerprint, part of every unit's key), how a member's backend is built, and the
    code index each member that reads codes answers from."""

    run: StageRun
    members: list[PanelMember]
    items: list[ItemRef]
    options: FilterConfig
    items_fp: str
    factory: BackendFactory
    codes: dict[str, dict[str, str] | None]


def unit_config(
    member: PanelMember, condition: str, options: FilterConfig, codes: dict[str, str] | None = None
) -> dict[str, Any]:
    """What one (model, condition) unit's votes depend on, and nothing else (not the name, note,
    device, engine or vote threshold), so reuse is as wide as it is safe. `codes`: the code index a
    member that reads codes (MiMo-Audio) answers from."""
    cfg = {
        "member": member.model_dump(exclude={"name", "note"}),
        "model_fingerprint": model_fingerprint(member.model, member.revision),
        "prompt_style": get_style(member.prompt_style).model_dump(),  # its definition, not only its name
        "condition": condition,
        "condition_params": options.condition_params(condition),
        "permutations": options.permutations,
        "chunk_items": options.chunk_items,
        "votes_schema": VOTES.version,
    }
    if member.mode == "generate":
        cfg["generate"] = {"max_new_tokens": options.max_new_tokens, "seed": options.seed}
    if codes is not None:
        cfg["codec_key"] = codes["codec_key"]
    return cfg


def unit_key(
    member: PanelMember,
    condition: str,
    options: FilterConfig,
    items_fp: str,
    codes: dict[str, str] | None = None,
) -> str:
    """The key a (model, condition) votes directory is marked with."""
    unit = unit_config(member, condition, options, codes)
    return stable_hash({"config": unit, "items": items_fp}, n=24)
