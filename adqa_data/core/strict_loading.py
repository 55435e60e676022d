"""Loading checkpoints strictly: a `from_pretrained` load that left weights randomly initialised or
dropped some is an error, for model adapters and codecs alike (a random weight fails silently: the
model still answers, only worse)."""

from __future__ import annotations

from typing import Any

from .errors import UserError


def check_loading_info(info: dict[str, Any], path: str, what: str) -> None:
    """Refuse a load that left weights randomly initialised or dropped some: `info` is transformers'
    `from_pretrained(..., output_loading_info=True)` report (missing, unexpected, mismatched keys)."""
    problems = []
    for label, key in (
        ("missing", "missing_keys"),
        ("unexpected", "unexpected_keys"),
        ("of another shape", "mismatched_keys"),
    ):
        keys = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get(key) or ())
        if keys:
            problems.append(f"{len(keys)} weight(s) {label} (e.g. {keys[0]})")
    if problems:
        raise UserError(
            f"{path} does not hold the weights of a {what}: {'; '.join(problems)}",
            fix="point at a folder saved from exactly that model (save_pretrained), or re-download it",
        )
