"""Configured rewards: a name and a weight per reward, resolved to plain callables and their columns.

A reward is named either by a key of the registry `REWARDS` (correctness, format, anchoring) or as a
plugin `package.module:function` with the same calling convention, TRL style:
`fn(completions: list[str], **columns) -> list[float]`, one finite number per completion. Each reward
writes its own column: `reward_<name>` for the built-ins (fixed columns of the rollouts schema,
`schema.BUILTIN_REWARD_COLUMNS`), `reward_<function>` for a plugin.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import UserError
from ..core.schema import BUILTIN_REWARD_COLUMNS
from . import REWARDS, RewardFn

BUILTIN_REWARDS = tuple(c.removeprefix("reward_") for c in BUILTIN_REWARD_COLUMNS)


@dataclass(frozen=True)
class RewardSpec:
    name: str  # as configured: a registry name or module:function
    column: str  # reward_<short name>
    fn: RewardFn
    weight: float


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Reward weights as floats; ValueError (for a settings validator) when there are none, one is not
    finite, or all are 0 (the total would carry no signal)."""
    if not weights:
        raise ValueError("at least one reward is needed")
    for name, w in weights.items():
        if not math.isfinite(float(w)):
            raise ValueError(f"reward {name!r} has a weight that is not finite: {w}")
    if not any(float(w) != 0 for w in weights.values()):
        raise ValueError("every reward weight is 0: the total would carry no signal")
    try:  # each name is a known reward or a module:function, one column each (no plugin is imported)
        reward_columns(weights)
    except UserError as e:
        raise ValueError(e.what) from None
    return {str(k): float(w) for k, w in weights.items()}


def short_name(name: str) -> str:
    """The short name of a reward's column (`reward_<short>`), from its name alone: a plugin's module is
    not imported (its top-level code runs only where the reward is computed, never where only its column
    is read, as by `train --reward`)."""
    if name in REWARDS:
        return name
    if ":" in name:
        return re.sub(r"\W+", "_", name.partition(":")[2]).strip("_").lower()
    raise UserError(
        f"unknown reward {name!r}", fix=f"use one of {sorted(REWARDS)} or a plugin as package.module:function"
    )


def load_reward(name: str) -> tuple[RewardFn, str]:
    """The callable a reward name stands for, and the short name of its column."""
    short = short_name(name)
    if name in REWARDS:
        return REWARDS[name], short
    module, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(
            f"reward plugin {name!r} cannot be loaded: {e}", fix="name an importable module:function"
        ) from None
    check_reward_signature(fn, name)
    return fn, short


def reward_columns(weights: Mapping[str, float]) -> dict[str, float]:
    """Reward name -> weight, as the column each name is stored in (`resolve_rewards`' order and naming),
    without importing any plugin: for readers of stored reward columns."""
    ordered = [n for n in BUILTIN_REWARDS if n in weights] + sorted(
        n for n in weights if n not in BUILTIN_REWARDS
    )
    columns = {f"reward_{short_name(n)}": float(weights[n]) for n in ordered}
    if len(columns) != len(ordered):
        raise UserError(
            f"two rewards write the same column: {sorted(columns)}", fix="rename a plugin function"
        )
    return columns


def check_reward_signature(fn: Any, name: str) -> None:
    """A plugin must be a function with the reward signature, `fn(completions, **columns)`: one
    positional argument and any keyword. Anything else (a class, a module, `os:system`) is refused
    before any rollout work, so naming the wrong object cannot run it with a batch of completions."""
    fix = "a reward plugin is a function def fn(completions, **columns) -> list[float]"
    if not callable(fn) or isinstance(fn, type):
        raise UserError(f"reward plugin {name!r} is a {type(fn).__name__}, not a function", fix=fix)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise UserError(
            f"reward plugin {name!r} has no inspectable signature (a builtin?)", fix=fix
        ) from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_positional = bool(positional) or any(p.kind is p.VAR_POSITIONAL for p in params)
    takes_keywords = any(p.kind is p.VAR_KEYWORD for p in params)
    required = [p for p in positional[1:] if p.default is p.empty]
    if not (takes_positional and takes_keywords) or required:
        raise UserError(
            f"reward plugin {name!r} has the signature {name.partition(':')[2]}{inspect.signature(fn)}, "
            "not (completions, **columns)",
            fix=fix,
        )


def resolve_rewards(weights: Mapping[str, float]) -> list[RewardSpec]:
    """The configured rewards in a fixed order: built-ins first (schema order), then plugins by name."""
    ordered = [n for n in BUILTIN_REWARDS if n in weights] + sorted(
        n for n in weights if n not in BUILTIN_REWARDS
    )
    specs = []
    for name in ordered:
        fn, short = load_reward(name)
        specs.append(RewardSpec(name, f"reward_{short}", fn, float(weights[name])))
    columns = [s.column for s in specs]
    if len(set(columns)) != len(columns):
        raise UserError(f"two rewards write the same column: {columns}", fix="rename a plugin function")
    return specs


def score_rewards(
    specs: Sequence[RewardSpec], completions: list[str], columns: Mapping[str, list[Any]]
) -> dict[str, list[float]]:
    """Every given reward over a batch, by column name; each must return one finite number per completion."""
    out: dict[str, list[float]] = {}
    for spec in specs:
        values = spec.fn(completions, **columns)
        if len(values) != len(completions) or any(v is None or not math.isfinite(float(v)) for v in values):
            raise UserError(
                f"reward {spec.name!r} did not return one finite number per completion",
                fix="a reward function returns list[float], one per completion",
            )
        out[spec.column] = [float(v) for v in values]
    return out
