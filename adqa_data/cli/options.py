"""Command-line options generated from a stage's settings model, so each setting is declared once.

A stage declares its settings as a pydantic model (name, type, default, bounds and a description that
says what the setting does and why its default). `settings_options(Model)` turns every field into a typer
option of the decorated command: `--field-name` (or the declarations a field lists under
`json_schema_extra={"cli": ["--lr"]}`), the description as its help with the default appended, booleans
as `--x/--no-x`, lists as repeatable options, mappings as repeatable `NAME=VALUE`. Every generated option
defaults to "not given": the command receives only what the user set, as `settings`, and lays it over a
settings file or the model's defaults; the model validates the whole (one-line errors naming the key).
A pipeline step's YAML keys are the same names (`learning_rate: 1e-3`).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)
SETTINGS = "settings"  # the decorated function's parameter that receives the given settings


def _unwrap_optional(tp: Any) -> Any:
    """`X | None` -> X."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def option_type(tp: Any) -> tuple[Any, str]:
    """(the type typer parses, how its value becomes the field's): 'value', 'list' or 'mapping'."""
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        kinds = {type(a) for a in typing.get_args(tp)}
        return (kinds.pop() if len(kinds) == 1 else str), "value"
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner, _ = option_type(args[0]) if args else (str, "value")
        return list[inner], "list"
    if origin in (dict, Mapping) or tp is dict:
        return list[str], "mapping"
    if tp in (bool, int, float, str, Path):
        return tp, "value"
    return str, "value"  # enums, constrained or custom types: the model converts the text


def _choices(tp: Any) -> str | None:
    tp = _unwrap_optional(tp)
    if typing.get_origin(tp) is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(tp))
    return None


def _default_text(field: FieldInfo) -> str | None:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return None if value in ([], {}, (), set()) else str(value)
    if field.default is None or field.default is Ellipsis:
        return None
    if isinstance(field.default, bool):
        return "on" if field.default else "off"
    if isinstance(field.default, (tuple, list)):
        return ", ".join(map(str, field.default)) or None
    return str(field.default)


def option_help(field: FieldInfo) -> str:
    """The field's description as help, with its choices and default."""
    text = (field.description or "").strip()
    text = text[0].upper() + text[1:] if text else ""
    choices = _choices(field.annotation)
    if choices and choices not in text:
        text = f"{text} ({choices})" if text else choices
    default = _default_text(field)
    if default is not None:
        text = (
            f"{text}{'' if text.endswith('.') else '.'} Default: {default}."
            if text
            else f"Default: {default}."
        )
    return text


def option_flags(name: str, field: FieldInfo) -> list[str]:
    """The option's declarations: those the field lists (`json_schema_extra={"cli": ["--lr"]}`, all of
    them, a flag's as `--on/--off`), else `--field-name` (`--field-name/--no-field-name` for a flag)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    declared = extra.get("cli")
    if declared:
        return [str(d) for d in declared]  # type: ignore[union-attr]
    long = f"--{name.replace('_', '-')}"
    if option_type(field.annotation)[0] is bool:
        return [f"{long}/--no-{long[2:]}"]
    return [long]


def _option(name: str, field: FieldInfo) -> tuple[Any, str]:
    tp, kind = option_type(field.annotation)
    help_text = option_help(field)
    if kind == "mapping":
        help_text = f"NAME=VALUE, repeatable. {help_text}"
    elif kind == "list":
        help_text = f"Repeatable. {help_text}"
    option = typer.Option(*option_flags(name, field), help=help_text, show_default=False)
    return Annotated[tp | None, option], kind


def parse_pairs(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` texts -> a mapping; a text without `=` is a one-line error."""
    from ..core.errors import UserError

    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"{flag} {pair!r} is not NAME=VALUE", fix=f"e.g. {flag} correctness=1")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def settings_options(
    model: type[BaseModel], *, exclude: Iterable[str] = (), only: Iterable[str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command whose function takes `settings: dict` (what the user gave, by field
    name) besides its own parameters: the model's fields become its options, after the function's own."""
    skip = set(exclude)
    keep = None if only is None else list(only)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != SETTINGS
        ]
        taken = {p.name for p in own}
        fields = {
            n: f
            for n, f in model.model_fields.items()
            if n not in skip and n not in taken and (keep is None or n in keep)
        }
        kinds: dict[str, str] = {}
        generated = []
        for name, field in fields.items():
            annotation, kinds[name] = _option(name, field)
            generated.append(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
            )

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given: dict[str, Any] = {}
            for name, kind in kinds.items():
                value = kwargs.pop(name)
                if value is None or (kind != "value" and not value):
                    continue
                if kind == "mapping":
                    value = parse_pairs(value, option_flags(name, fields[name])[0].split("/")[0])
                given[name] = value
            return fn(settings=given, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + generated
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer reads the signature above, not the wrapped function's
        return command

    return decorate


def build_settings(
    model: type[M], settings: Mapping[str, Any], command: str, base: Mapping[str, Any] | None = None
) -> M:
    """`model` from a settings file's values (`base`) with the command line's on top; a problem is one
    line naming the option (`--n`), not the field."""
    from ..core.config_files import option_name, validate_model

    return validate_model(
        model,
        {**(base or {}), **settings},
        f"adqa-data {command}",
        fix=f"see 'adqa-data {command} --help'",
        key_name=option_name(model),
    )
