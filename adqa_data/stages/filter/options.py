"""What a filter run is configured with: its options (`FilterOptions`) and its panel, both checked
before any model is loaded."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...core.errors import UserError
from ...core.names import safe_name
from ...inference.letter_position import declared_opening, letter_prefix
from ...inference.multiple_choice import MODES
from ...inference.panel import Panel, PanelMember, load_panel
from ...inference.trust import allow_remote_code, family_needs_remote_code
from ..row_checks import DEFAULT_MAX_PROMPT_TOKENS
from .voting import MIN_LETTER_MASS

BASE_CONDITIONS = ("audio", "silence")
EXTRA_CONDITIONS = ("noise", "swap")
CONDITIONS = BASE_CONDITIONS + EXTRA_CONDITIONS
NOISE_COLORS = ("white", "pink")


@dataclass(frozen=True)
class FilterOptions:
    """Every knob of the filter stage, with its default and why."""

    conditions: tuple[str, ...] = BASE_CONDITIONS  # audio and silence always; add noise / swap
    # letters | options | generate; None = each panel member's own (letters by default)
    mode: str | None = None
    permutations: int = 1  # K cyclic rotations of the options, averaged: undoes letter-position bias
    min_correct: int | None = None  # None = the panel's (2 of 3 in the paper)
    silence_seconds: float = 30.0  # the paper's silent clip; also the noise clip's length
    noise_color: str = "white"
    noise_level_dbfs: float = -30.0  # RMS level of the noise condition
    seed: int = 0  # noise samples and swap draws
    chunk_items: int = 256  # items per votes shard: the unit of resume
    max_new_tokens: int = 256  # generate mode
    device: str | None = None  # None = cuda when available, else cpu
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS  # items whose prompt is longer are quarantined
    trust_remote_code: bool = False  # allow members that need their repository's code (pinned ones only)
    # Warn about a letters-mode member whose median letter mass (the full-vocabulary probability the shown
    # option letters hold where they are read, before renormalising) is below this (why one half:
    # voting.MIN_LETTER_MASS). Reporting only: it changes no vote and no key.
    min_letter_mass: float = MIN_LETTER_MASS
    # After voting, re-ask this many random items (seed `seed`; capped at the items scored) in generate
    # mode, per letters/options member, and report how often the vote equals the generated answer: what
    # the fast path costs in fidelity. 0 = no audit.
    audit: int = 0

    def validated(self) -> FilterOptions:
        """The options with conditions normalised (audio, silence first, then the extras, once each)."""
        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            raise UserError(
                f"unknown condition(s) {unknown}",
                fix=f"use {', '.join(EXTRA_CONDITIONS)} (audio and silence are always run)",
            )
        if self.mode is not None and self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}", fix=f"use one of: {', '.join(MODES)}")
        if not 1 <= self.permutations <= 10:
            raise UserError(
                f"--permutations must be between 1 and 10, got {self.permutations}",
                fix="use 1 (no rotation) or the number of options (4) to cancel a letter bias",
            )
        if self.silence_seconds <= 0:
            raise UserError(f"--silence-seconds must be positive, got {self.silence_seconds}")
        if self.noise_color not in NOISE_COLORS:
            raise UserError(f"unknown noise color {self.noise_color!r}", fix="use white or pink")
        if self.chunk_items < 1:
            raise UserError(f"chunk size must be at least 1 item, got {self.chunk_items}")
        if self.max_prompt_tokens < 1:
            raise UserError(f"--max-prompt-tokens must be at least 1, got {self.max_prompt_tokens}")
        if not 0.0 <= self.min_letter_mass <= 1.0:
            raise UserError(
                f"--min-letter-mass must be between 0 and 1, got {self.min_letter_mass}",
                fix="use a probability, e.g. 0.5 (the default); 0 turns the warning off",
            )
        if self.audit < 0:
            raise UserError(
                f"--audit must be 0 or more items, got {self.audit}", fix="use e.g. --audit 50, or 0 for none"
            )
        conds = BASE_CONDITIONS + tuple(c for c in EXTRA_CONDITIONS if c in self.conditions)
        return replace(self, conditions=conds)

    def condition_params(self, condition: str) -> dict[str, Any]:
        """What a condition's audio depends on (part of its votes' key)."""
        if condition == "silence":
            return {"seconds": self.silence_seconds}
        if condition == "noise":
            return {
                "seconds": self.silence_seconds,
                "color": self.noise_color,
                "level_dbfs": self.noise_level_dbfs,
                "seed": self.seed,
            }
        if condition == "swap":
            return {"seed": self.seed}
        return {}


def _panel_dirs() -> list[Path]:
    package = Path(__file__).resolve().parents[2]  # adqa_data/
    return [package.parent / "pipelines" / "panels", package / "pipelines" / "panels"]


def resolve_panel(panel: Panel | str | Path) -> Panel:
    """A Panel object, a YAML path, or the name of a built-in panel (`pipelines/panels/<name>.yaml`)."""
    if isinstance(panel, Panel):
        return panel
    p = Path(panel)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return load_panel(p)
    for d in _panel_dirs():
        if (d / f"{panel}.yaml").is_file():
            return load_panel(d / f"{panel}.yaml")
    known = sorted({q.stem for d in _panel_dirs() if d.is_dir() for q in d.glob("*.yaml")})
    raise UserError(
        f"no panel named {str(panel)!r}", fix=f"give a panel YAML file or one of: {', '.join(known)}"
    )


def effective_members(panel: Panel, mode: str | None, trust_remote_code: bool = False) -> list[PanelMember]:
    """The members with the mode in force, checked before any model is loaded. A member's
    `trust_remote_code` is on only when it needs remote code, the user allowed it (`trust_remote_code`
    here: the command line's --trust-remote-code) and its code is pinned (`inference.trust`)."""
    from ...mcq.prompt_styles import get_style

    out = []
    for m in panel.members:
        try:
            safe_name(m.name, "panel member name")
        except UserError as e:
            raise UserError(e.what, where=f"panel {panel.name}", fix=e.fix) from None
        needed = m.trust_remote_code or family_needs_remote_code(m.family, m.backend)
        remote = allow_remote_code(
            m.model, m.revision, needed, trust_remote_code, f"panel {panel.name} member {m.name!r}"
        )
        member = m.model_copy(update={"mode": mode or m.mode, "trust_remote_code": remote})
        style = get_style(member.prompt_style)
        if member.mode == "letters":  # the letter must be reachable without reasoning (letter_position)
            opening = declared_opening(m.model, m.family, m.reply_opens_with)
            try:
                letter_prefix(style, opening, who=f"member {m.name!r}")
            except UserError as e:
                raise UserError(e.what, where=f"panel {panel.name}", fix=e.fix) from None
        if member.mode == "options" and style.option_reply is None:
            raise UserError(
                f"member {m.name!r}: prompt style {style.name!r} has no option reply for 'options' mode",
                where=f"panel {panel.name}",
                fix="use prompt_style letters or audiomcq, or another mode",
            )
        out.append(member)
    return out
