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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
        if isinstance(value, Mapping):  # as the option takes it: NAME=VALUE, ...
            return ", ".join(f"{k}={v}" for k, v in value.items()) or None
        return None if value in ([], (), set()) else str(value)
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


def option_flags(name: str, field: FieldInfo, declared: Sequence[str] | None = None) -> list[str]:
    """The option's declarations: `declared` when a command gives them, else those the field lists
    (`json_schema_extra={"cli": ["--lr"]}`, all of them, a flag's as `--on/--off`), else `--field-name`
    (`--field-name/--no-field-name` for a flag)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    declared = declared or extra.get("cli")  # type: ignore[assignment]
    if declared:
        return [str(d) for d in declared]  # type: ignore[union-attr]
    long = f"--{name.replace('_', '-')}"
    if option_type(field.annotation)[0] is bool:
        return [f"{long}/--no-{long[2:]}"]
    return [long]


def _option(name: str, field: FieldInfo, declared: Sequence[str] | None = None) -> tuple[Any, str]:
    tp, kind = option_type(field.annotation)
    help_text = option_help(field)
    if kind == "mapping":
        help_text = f"NAME=VALUE, repeatable. {help_text}"
    elif kind == "list":
        help_text = f"Repeatable. {help_text}"
    option = typer.Option(*option_flags(name, field, declared), help=help_text, show_default=False)
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


def param_name(name: str, declared: Sequence[str] | None) -> str:
    """The command parameter (and pipeline key) of a field: its name, or the first long flag a command
    declares for it (`--rollout-backend` -> rollout_backend)."""
    long = next((d for d in declared or () if d.startswith("--")), None)
    return long.split("/")[0][2:].replace("-", "_") if long else name


def settings_options(
    model: type[BaseModel],
    *,
    exclude: Iterable[str] = (),
    only: Iterable[str] | None = None,
    flags: Mapping[str, Sequence[str]] | None = None,
    into: str = SETTINGS,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command whose function takes `settings: dict` (what the user gave, by field
    name) besides its own parameters: the model's fields become its options, after the function's own.
    `flags`: a field's declarations in this command where they differ from the field's own (the
    parameter is then named for the first long one); `into`: the parameter that receives the dict, so a
    second model's options can decorate the same command (train's online rollout settings)."""
    skip = set(exclude)
    keep = None if only is None else list(only)
    flags = dict(flags or {})

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != into
        ]
        taken = {p.name for p in own}
        params = {n: param_name(n, flags.get(n)) for n in model.model_fields}
        fields = {
            n: f
            for n, f in model.model_fields.items()
            if n not in skip and params[n] not in taken and (keep is None or n in keep)
        }
        kinds: dict[str, str] = {}
        generated = []
        for name, field in fields.items():
            annotation, kinds[name] = _option(name, field, flags.get(name))
            generated.append(
                inspect.Parameter(
                    params[name], inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
                )
            )

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given: dict[str, Any] = {}
            for name, kind in kinds.items():
                value = kwargs.pop(params[name])
                if value is None or (kind != "value" and not value):
                    continue
                if kind == "mapping":
                    flag = option_flags(name, fields[name], flags.get(name))[0].split("/")[0]
                    value = parse_pairs(value, flag)
                given[name] = value
            return fn(**{into: given}, **kwargs)

        signature = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + generated
        command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in signature}
        del command.__wrapped__  # typer reads the signature above, not the wrapped function's
        return command

    return decorate


def build_settings(
    model: type[M],
    settings: Mapping[str, Any],
    command: str,
    base: Mapping[str, Any] | None = None,
    flags: Mapping[str, Sequence[str]] | None = None,
) -> M:
    """`model` from a settings file's values (`base`) with the command line's on top; a problem is one
    line naming the option (`--n`), not the field; where the flag is not the setting's name (`--lr`),
    the line ends with the key a settings file or pipeline step uses (learning_rate). `flags`: as
    `settings_options` was given them."""
    from pydantic import ValidationError

    from ..core.config_files import option_name, validation_error

    flag = option_name(model, flags)

    try:
        return model.model_validate({**(base or {}), **settings})
    except ValidationError as e:
        from ..core.errors import UserError

        err = validation_error(
            e, f"adqa-data {command}", fix=f"see 'adqa-data {command} --help'", key_name=flag
        )
        errors = e.errors()
        head = str(errors[0]["loc"][0]) if errors and errors[0].get("loc") else ""
        if head in model.model_fields and flag(head)[2:] != head:  # the key a file or pipeline step uses
            err = UserError(f"{err.what} (the setting {head})", where=err.where, fix=err.fix)
        raise err from None


def file_settings(load: Callable[[Any], BaseModel], path: str | Path | None) -> dict[str, Any] | None:
    """The values a settings file (`--config`) sets, read by the stage's `load`: only those it sets, so
    that the model's defaults do not count as given and cannot override anything; None without a file."""
    return None if path is None else load(path).model_dump(exclude_unset=True)
