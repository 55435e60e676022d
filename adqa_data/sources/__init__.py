"""Upstream layouts, one module each; `detect_layout` picks one from a dataset root's manifest."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from .audiomcq import AudioMCQLayout
from .base import Layout
from .dcase2026 import DcaseDevLayout, DcaseEvalLayout
from .generic import GenericLayout

LAYOUTS: dict[str, type] = {
    "audiomcq": AudioMCQLayout,
    "dcase2026-dev": DcaseDevLayout,
    "dcase2026-eval": DcaseEvalLayout,
}


def detect_layout(root: Path) -> Layout:
    found = [cls() for cls in LAYOUTS.values() if (root / cls.manifest).is_file()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(
            f"no known manifest in {root} (looked for {', '.join(c.manifest for c in LAYOUTS.values())})",
            fix="name the layout with --layout, or use --layout generic --manifest FILE --map FIELD=COLUMN",
        )
    raise UserError(
        f"several manifests in {root}: {', '.join(f.manifest for f in found)}",
        fix=f"choose one with --layout ({', '.join(f.name for f in found)})",
    )


def get_layout(
    name: str | None,
    root: Path,
    manifest: str | None = None,
    mapping: dict[str, str] | None = None,
    split: str | None = None,
) -> Layout:
    if name is None:
        return detect_layout(root)
    if name == "generic":
        if not manifest:
            raise UserError("--layout generic needs --manifest FILE (JSONL or Parquet, relative to the root)")
        has_answers = mapping is None or mapping.get("answer", "answer") != ""
        return GenericLayout(
            manifest, {k: v for k, v in (mapping or {}).items() if v}, split or "train", has_answers
        )
    if name not in LAYOUTS:
        raise UserError(f"unknown layout {name!r}", fix=f"use one of: {', '.join([*LAYOUTS, 'generic'])}")
    return LAYOUTS[name]()


__all__ = ["LAYOUTS", "Layout", "detect_layout", "get_layout", "GenericLayout"]
