"""YAML settings files -> validated pydantic models, with one way of saying what is wrong.

Rollout configs, panels, pipelines and prompt styles are YAML files a user writes by hand. Each is a
pydantic model; `load_yaml_model` reads the file, validates it and turns every failure (missing file,
bad YAML, not a mapping, an unknown or invalid key) into one `UserError` that names the file, the key
and the fix, instead of a traceback or a page of pydantic output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from .errors import UserError

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


# what a settings file may be: far above any real one (the largest shipped is a few KiB), far below harm
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64  # nested mappings / lists; deeper is refused before the (recursive) composer runs
MAX_YAML_NODES = 100_000  # nodes after alias expansion: a "billion laughs" is refused, not expanded


def read_yaml_mapping(path: str | Path, what: str, fix: str | None = None) -> dict[str, Any]:
    """The mapping a YAML file holds (an empty file is an empty mapping). Only a regular file of at most
    `MAX_YAML_BYTES` is read, as UTF-8; nesting and alias expansion are bounded (`parse_yaml`)."""
    from .user_files import decode_utf8, read_user_file

    p = Path(path)
    text = decode_utf8(read_user_file(p, what, MAX_YAML_BYTES, fix), what, str(p), fix)
    data = parse_yaml(text, what, str(p), fix)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"{what} must be a mapping of settings, not a {type(data).__name__}", where=str(p), fix=fix
        )
    return data


def parse_yaml(text: str, what: str, where: str, fix: str | None = None) -> Any:
    """`yaml.safe_load(text)` with bounds: nesting deeper than `MAX_YAML_DEPTH` is refused from the event
    stream (the parser is iterative; PyYAML's composer would recurse), and a document whose aliases
    expand to more than `MAX_YAML_NODES` nodes (or refer to themselves) before it is constructed. Each
    failure is one `UserError`."""
    import yaml

    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    mark = event.start_mark
                    raise UserError(
                        f"{what} nests mappings or lists more than {MAX_YAML_DEPTH} deep "
                        f"(line {mark.line + 1})",
                        where=where,
                        fix=fix,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_nodes(node, {}) > MAX_YAML_NODES:
                raise UserError(
                    f"{what} expands to more than {MAX_YAML_NODES:,} values through its aliases (*name)",
                    where=where,
                    fix="write the values out instead of nesting aliases",
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{what} is not valid YAML: {problem}{at}", where=where, fix=fix) from None


def _expanded_nodes(node: Any, seen: dict[int, int]) -> int:
    """Nodes of the document once every alias is expanded; an alias is the same node object in PyYAML's
    graph, so each is counted once and multiplied, not walked (a cycle counts as too many)."""
    key = id(node)
    if key in seen:
        return seen[key]
    seen[key] = MAX_YAML_NODES + 1  # in progress: an alias to an enclosing node never ends
    total = 1
    children = node.value if isinstance(node.value, list) else []
    for child in children:
        for sub in child if isinstance(child, tuple) else (child,):
            total += _expanded_nodes(sub, seen)
            if total > MAX_YAML_NODES:
                break
    seen[key] = min(total, MAX_YAML_NODES + 1)
    return seen[key]


def validation_error(
    e: ValidationError,
    what: str,
    where: str | None = None,
    fix: str | None = None,
    key_name: Callable[[str], str] | None = None,
) -> UserError:
    """The first problem of a pydantic `ValidationError` as one line: the key (as `key_name` shows it: a
    command names its option), then what is wrong with it."""
    errors = e.errors()
    first = errors[0] if errors else {"loc": (), "msg": str(e), "type": ""}
    raw = ".".join(str(x) for x in first.get("loc", ()))
    key = key_name(raw) if key_name is not None and raw else raw
    msg = str(first.get("msg", "")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        msg = "unknown key"
    if first.get("type") == "literal_error" and raw:  # a choice: name the value and the choices
        expected = str(first.get("ctx", {}).get("expected", "")).replace(" or ", ", ")
        msg = (
            f"unknown {raw.split('.')[-1].replace('_', ' ')} {first.get('input')!r} (use one of: {expected})"
        )
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return UserError(f"{what}: {key + ': ' if key else ''}{msg}{more}", where=where, fix=fix)


def validate_model(
    model: type[M],
    data: Mapping[str, Any],
    what: str,
    where: str | None = None,
    fix: str | None = None,
    key_name: Callable[[str], str] | None = None,
) -> M:
    """`model` validated from `data`, or a one-line `UserError` naming the key at fault (as `key_name`
    shows it: `option_name(model)` names a stage setting by its command-line option)."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as e:
        raise validation_error(e, what, where, fix, key_name=key_name) from None


def option_name(
    model: type[BaseModel], flags: Mapping[str, Sequence[str]] | None = None
) -> Callable[[str], str]:
    """A settings key as its command's option shows it: the first flag the command declares for it
    (`flags`), else the first the field declares (`json_schema_extra={"cli": ["--lr"]}`), else
    `--field-name`; a key that is no field as it is."""

    def name(key: str) -> str:
        head = key.split(".")[0]
        field = model.model_fields.get(head)
        if field is None:
            return key
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        declared = (flags or {}).get(head) or extra.get("cli")
        return str(declared[0]).split("/")[0] if declared else f"--{head.replace('_', '-')}"  # type: ignore[index]

    return name


def dataset_field() -> Any:
    """The `dataset` setting of every stage, declared once: `--dataset/-d`, the only dataset by default."""
    return Field(
        None,
        description="dataset name in the workspace (default: the only one)",
        json_schema_extra={"cli": ["--dataset", "-d"]},
    )


def shorthand_config(
    model: type[M], base: BaseModel | None, what: str, keywords: Mapping[str, Any]
) -> tuple[M, dict[str, Any]]:
    """A stage's keyword shorthand split in two: its config (the fields set on `base`, an unchecked or
    partial config, with the `keywords` that are fields of `model` on top, None meaning not given),
    checked with one-line errors naming each option; and the other keywords, for the stage's `run`."""
    data = {k: getattr(base, k) for k in base.model_fields_set} if base is not None else {}
    data.update({k: v for k, v in keywords.items() if k in model.model_fields and v is not None})
    rest = {k: v for k, v in keywords.items() if k not in model.model_fields}
    return validate_model(model, data, what, key_name=option_name(model)), rest


def run_shorthand(
    run: Callable[..., R],
    ws: Any,
    model: type[M],
    base: BaseModel | None,
    what: str,
    keywords: Mapping[str, Any],
) -> R:
    """`run(ws, config, **rest)` for a stage's keyword shorthand (`shorthand_config` splits the keywords):
    the one way the old keyword functions (`encode(ws, dataset=...)`) reach the stage's `run`."""
    config, rest = shorthand_config(model, base, what, keywords)
    return run(ws, config, **rest)


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
