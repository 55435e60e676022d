"""Errors a user can act on: each says what went wrong, where, and how to fix it.

The CLI prints these as one clean message with a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input or configuration, not a bug: exit code 2. A problem of the system the user can
    act on (a read-only workspace) is said the same way with `exit_code=1`, as the README promises."""

    def __init__(self, what: str, where: str | None = None, fix: str | None = None, exit_code: int = 2):
        self.what, self.where, self.fix, self.exit_code = what, where, fix, exit_code
        parts = [what]
        if where:
            parts.append(f"where: {where}")
        if fix:
            parts.append(f"fix: {fix}")
        super().__init__("\n".join(parts))


class MissingExtra(UserError):
    """An optional dependency group is not installed."""

    def __init__(self, module: str, extra: str, why: str):
        super().__init__(
            f"{why} needs the Python package '{module}', which is not installed",
            fix=f"pip install 'adqa-data[{extra}]'",
        )


def require(module: str, extra: str, why: str):
    """Import an optional heavy module lazily, or raise a MissingExtra that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingExtra(module, extra, why) from e
