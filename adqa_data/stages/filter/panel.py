"""The panel a filter run asks: resolved from a file or a built-in name, and each member checked (its
mode, its prompt style, its remote code) before any model is loaded."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import UserError
from ...core.names import safe_name
from ...inference.letter_position import declared_opening, letter_prefix
from ...inference.panel import Panel, PanelMember, load_panel
from ...inference.trust import allow_remote_code, family_needs_remote_code


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
