"""YAML settings files -> validated pydantic models, with one way of saying what is wrong.

Rollout configs, panels, pipelines and prompt styles are YAML files a user writes by hand. Each is a
pydantic model; `load_yaml_model` reads the file, validates it and turns every failure (missing file,
bad YAML, not a mapping, an unknown or invalid key) into one `UserError` that names the file, the key
and the fix, instead of a traceback or a page of pydantic output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import UserError

M = TypeVar("M", bound=BaseModel)


def read_yaml_mapping(path: str | Path, what: str, fix: str | None = None) -> dict[str, Any]:
    """The mapping a YAML file holds (an empty file is an empty mapping)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise UserError(f"no such {what}: {p}", fix=fix) from None
    except IsADirectoryError:
        raise UserError(f"{what} {p} is a directory, not a YAML file", fix=fix) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{what} is not valid YAML: {problem}{at}", where=str(p), fix=fix) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"{what} must be a mapping of settings, not a {type(data).__name__}", where=str(p), fix=fix
        )
    return data


def validation_error(
    e: ValidationError, what: str, where: str | None = None, fix: str | None = None
) -> UserError:
    """The first problem of a pydantic `ValidationError` as one line: the key, then what is wrong with it."""
    errors = e.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(e), "type": ""}
    key = ".".join(str(x) for x in first.get("loc", ()))
    msg = str(first.get("msg", "")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return UserError(f"{what}: {key + ': ' if key else ''}{msg}{more}", where=where, fix=fix)


def validate_model(
    model: type[M], data: Mapping[str, Any], what: str, where: str | None = None, fix: str | None = None
) -> M:
    """`model` validated from `data`, or a one-line `UserError` naming the key at fault."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as e:
        raise validation_error(e, what, where, fix) from None


def load_yaml_model(
    path: str | Path,
    model: type[M],
    what: str,
    fix: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """A YAML file validated as `model`; `overrides` (None values ignored) are applied on top first.

    `what` names the kind of file in messages ("rollout config", "panel"); `fix` says where its keys
    are documented."""
    data = read_yaml_mapping(path, what, fix)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return validate_model(model, data, what, where=str(path), fix=fix)


def load_settings(
    path: str | Path | None,
    model: type[M],
    what: str,
    fix: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """Settings of a command: a YAML file when given (`load_yaml_model`), else the defaults, with the
    command-line `overrides` (None values ignored) on top."""
    if path is not None:
        return load_yaml_model(path, model, what, fix, overrides)
    data = {k: v for k, v in (overrides or {}).items() if v is not None}
    return validate_model(model, data, what, fix=fix)
