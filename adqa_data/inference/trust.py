"""What a model stage may load and run: model references, and remote code.

Remote code is a model repository's own Python (`trust_remote_code`): loading such a model runs whatever
that repository holds. It runs here only when both hold:

* the user allowed it on the command line (`--trust-remote-code`, or `trust_remote_code: true` in a
  pipeline step, which is the same option). Panels and rollout configs may say that a model *needs*
  remote code; only the command line can allow it;
* the code is pinned: a local folder (its files are what runs, and the run's fingerprint covers them),
  or a hub id with a full 40-character commit `revision` (a branch or tag can move under you).

Anything else is a one-line error saying how to allow it. Model references are checked before any
model loads: a folder that does not exist, or a hub id the local cache lacks under `HF_HUB_OFFLINE`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.errors import UserError

COMMIT = re.compile(r"[0-9a-f]{40}")
ALLOW_FIX = (
    "if you trust that repository, pass --trust-remote-code (a pipeline step: trust_remote_code: true) "
    "and pin the model: a local folder, or revision: <the 40-character commit sha>"
)


def looks_local(model: str) -> bool:
    """A model reference that names a folder rather than a hub id (`org/name`)."""
    return Path(model).expanduser().exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_model_ref(model: str, revision: str | None = None, what: str = "model") -> None:
    """Refuse, before anything loads, a model that cannot be there: a missing folder, or a hub id that
    is not in the local cache while the hub is offline."""
    if "\0" in model:
        raise UserError(f"{what} {model!r} contains a NUL byte")
    if looks_local(model):
        if not Path(model).expanduser().is_dir():
            raise UserError(
                f"{what}: model folder {model} does not exist",
                fix="check the path (a local checkpoint folder or a hub id org/name)",
            )
        return
    if hub_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str):
            raise UserError(
                f"{what}: {model}{'@' + revision if revision else ''} is not in the local Hugging Face "
                "hub cache and HF_HUB_OFFLINE is set",
                fix="check the name, download it once online, or give a local folder",
            )


def allow_remote_code(model: str, revision: str | None, needed: bool, allowed: bool, what: str) -> bool:
    """Whether to load `model` with `trust_remote_code=True`: only when it is `needed`, the user
    `allowed` it and the code is pinned; a model that needs it without both is refused."""
    if not needed:
        return False
    if not allowed:
        raise UserError(
            f"{what} ({model}) runs code from its model repository, which is off by default", fix=ALLOW_FIX
        )
    if not looks_local(model) and not (revision and COMMIT.fullmatch(revision)):
        raise UserError(
            f"{what} ({model}) runs remote code, but its revision {revision or '(none)'} is not a pinned "
            "commit",
            fix="set revision: <the 40-character commit sha> (a branch or tag can change)",
        )
    return True


def family_needs_remote_code(family: str | None, backend: str) -> bool:
    """Families whose vLLM implementation loads code from the model repository (e.g. Kimi-Audio)."""
    if family is None or backend != "vllm":
        return False
    from .adapters import ADAPTERS

    cls = ADAPTERS.get(family)
    return bool(cls is not None and getattr(cls, "vllm_trust_remote_code", False))
