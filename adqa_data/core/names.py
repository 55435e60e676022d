"""The one check for user strings that become path components in a workspace.

Set names (`--name` of download, sample and rollout), dataset names, panel member names, model short
names and codec keys all end up as a folder or file name under the workspace, and a stage deletes and
rewrites its own folders. A string like `../..` or `/home/me` must therefore never reach a path join:
every such string passes `safe_name` first, which accepts exactly one plain component.

The rule: 1 to `MAX_NAME_LENGTH` characters from `[A-Za-z0-9._+=@-]`, starting with a letter or a digit
(so never `.`/`..`, never a hidden file, never something that reads as an option), which also rules out
separators, NUL and any other control character.
"""

from __future__ import annotations

import hashlib
import re

from .errors import UserError

MAX_NAME_LENGTH = 100
NAME_CHARSET = "letters, digits and . _ + = @ -"
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@-]*")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._+=@-]+")


def is_safe_name(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and _SAFE.fullmatch(value) is not None


def safe_name(value: object, what: str) -> str:
    """`value` if it is one safe path component, else a `UserError` naming `what` (e.g. "--name")."""
    if is_safe_name(value):
        return value  # type: ignore[return-value]
    shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60] + "...")
    if not isinstance(value, str):
        why = f"must be a string, not {type(value).__name__}"
    elif not value:
        why = "is empty"
    elif len(value) > MAX_NAME_LENGTH:
        why = f"is longer than {MAX_NAME_LENGTH} characters"
    elif "/" in value or "\\" in value:
        why = "contains a path separator"
    elif value in (".", ".."):
        why = "is a relative path"
    elif "\0" in value:
        why = "contains a NUL byte"
    elif not value[0].isascii() or not value[0].isalnum():
        why = "must start with a letter or a digit"
    else:
        why = "has characters outside the allowed set"
    raise UserError(
        f"{what} {shown} {why}: it names a file or folder, so it must be one plain name",
        fix=f"use 1-{MAX_NAME_LENGTH} characters: {NAME_CHARSET}, starting with a letter or digit",
    )


def name_part(text: str, max_length: int = 40) -> str:
    """A fragment for a *default* name built from free text (a model path, a hub id): unsafe runs of
    characters become `_`, length is capped, and an empty result becomes `x`."""
    part = _UNSAFE_CHAR.sub("_", text).strip("._-+=@")[:max_length].rstrip("._-+=@")
    return part or "x"


def bounded_name(head: str, tail: str) -> str:
    """`head + tail`, cutting `head` so the whole stays within `MAX_NAME_LENGTH` (tail kept whole); when
    `head` is cut, a short hash of it keeps distinct heads distinct."""
    if len(head) + len(tail) <= MAX_NAME_LENGTH:
        return head + tail
    digest = hashlib.sha256(head.encode()).hexdigest()[:8]
    keep = MAX_NAME_LENGTH - len(tail) - len(digest) - 1
    return f"{head[:keep].rstrip('._-+=@')}-{digest}{tail}"
