"""`adqa-data sample`: a prompt set drawn from a split, balanced by question type (docs/method.md#sampling).

Draws `n` items without replacement from the pool (the `strong` split by default), stratified by
question type: each type gets a quota from `weights` (`uniform`, `proportional` to the pool, or explicit
per-type weights), allotted by largest remainder. A type with fewer items than its quota gives all it has
and the shortfall is re-allotted to the others by their weights, so the set has exactly `n` items
whenever the pool has them. Within a type, items are drawn by a seeded permutation of the item ids
sorted, so the set depends only on (pool, n, weights, seed), never on shard order.

Leakage: once `check-leakage` has run on the dataset, the items it flagged (their audio or question is
also in a dev/eval set) are left out of the pool by default and counted (`excluded_leaked`); a set
drawn before the check is redrawn on its next run, since its pool changed. `exclude_leaked=False`
keeps them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.errors import UserError
from ...core.fingerprints import rows_fingerprint, stable_hash
from ...core.names import safe_name
from ...core.results import result_from_summary
from ...core.schema import PROMPTS
from ...core.workspace import StageRun, Workspace
from ..splits import gold_items
from .config import SampleConfig

STAGE = "sample"


@dataclass
class SampleResult:
    dataset: str
    name: str
    up_to_date: bool
    n: int = 0
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> {"pool": .., "chosen": ..}
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    excluded_leaked: int = 0  # pool items left out because check-leakage flagged them


def parse_weights(spec: str | dict[str, float]) -> str | dict[str, float]:
    """'uniform' | 'proportional' | 'sound=2,music=1,speech=1' (or a dict from YAML)."""
    if isinstance(spec, dict):
        weights = {str(k): float(v) for k, v in spec.items()}
    elif spec in ("uniform", "proportional"):
        return spec
    else:
        weights = {}
        for part in spec.split(","):
            if "=" not in part:
                raise UserError(
                    f"--weights {spec!r}: {part!r} is not TYPE=WEIGHT",
                    fix="use 'uniform', 'proportional', or e.g. 'sound=2,music=1,speech=1'",
                )
            k, v = part.split("=", 1)
            try:
                weights[k.strip()] = float(v)
            except ValueError:
                raise UserError(f"--weights: {v!r} is not a number") from None
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise UserError("--weights must be non-negative with at least one positive weight")
    return weights


def allot(n: int, available: dict[str, int], weights: dict[str, float]) -> dict[str, int]:
    """Quotas per type summing to min(n, supply of positively weighted types), each within availability."""
    quota = {t: 0 for t in available}
    open_types = {t for t in available if weights.get(t, 0) > 0 and available[t] > 0}
    remaining = min(n, sum(available[t] for t in open_types))
    while remaining > 0 and open_types:
        total_w = sum(weights[t] for t in open_types)
        exact = {t: remaining * weights[t] / total_w for t in open_types}
        share = {t: int(np.floor(exact[t])) for t in open_types}
        leftover = remaining - sum(share.values())
        # largest remainder, ties broken by type name for determinism
        for t in sorted(open_types, key=lambda t: (-(exact[t] - share[t]), t))[:leftover]:
            share[t] += 1
        for t in open_types:
            take = min(share[t], available[t] - quota[t])
            quota[t] += take
            remaining -= take
        open_types = {t for t in open_types if quota[t] < available[t]}
    return quota


def _pool(ws: Workspace, dataset: str, split: str) -> list[dict[str, Any]]:
    columns = ["item_id", "question_type", "source_dataset", "answer_index"]
    return gold_items(ws, dataset, split, columns, instead="sample from every item with --split all")


def _without_leaked(
    ws: Workspace, dataset: str, pool: list[dict[str, Any]], exclude: bool | None
) -> tuple[list[dict[str, Any]], int | None]:
    """The pool without check-leakage's flagged items, and how many were left out (None: not applied)."""
    if exclude is False:
        return pool, None
    from ..leakage import leaked_items

    leaked = leaked_items(ws, dataset)
    if leaked is None:
        if exclude:
            raise UserError(
                f"dataset {dataset!r} has no finished check-leakage run",
                fix=f"run 'adqa-data check-leakage -d {dataset}' first, or drop --exclude-leaked",
            )
        return pool, None
    kept = [it for it in pool if it["item_id"] not in leaked]
    return kept, len(pool) - len(kept)


def draw(
    pool: list[dict[str, Any]], n: int, weights: str | dict[str, float], seed: int
) -> list[dict[str, Any]]:
    """The sampling itself, pure: returns the chosen items in draw order."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for it in sorted(pool, key=lambda it: it["item_id"]):
        by_type.setdefault(it["question_type"] or "(none)", []).append(it)
    available = {t: len(v) for t, v in by_type.items()}
    if weights == "uniform":
        w = {t: 1.0 for t in available}
    elif weights == "proportional":
        w = {t: float(c) for t, c in available.items()}
    else:
        unknown = set(weights) - set(available)  # type: ignore[arg-type]
        if unknown:
            raise UserError(
                f"--weights names question types not in the pool: {', '.join(sorted(unknown))}",
                fix=f"pool types: {', '.join(sorted(available))}",
            )
        w = dict(weights)  # type: ignore[arg-type]
    quota = allot(n, available, w)
    rng = np.random.default_rng(seed)
    chosen: list[dict[str, Any]] = []
    for t in sorted(by_type):
        order = rng.permutation(len(by_type[t]))
        chosen += [by_type[t][i] for i in order[: quota[t]]]
    # interleave types in a seeded order so any prefix of the set is balanced too
    return [chosen[i] for i in rng.permutation(len(chosen))]


def _breakdown(
    pool: list[dict[str, Any]], chosen: list[dict[str, Any]], key: str
) -> dict[str, dict[str, int]]:
    p = Counter(it[key] or "(none)" for it in pool)
    c = Counter(it[key] or "(none)" for it in chosen)
    return {k: {"pool": p[k], "chosen": c.get(k, 0)} for k in sorted(p)}


def default_name(split: str, n: int, seed: int, weights: str | dict[str, float]) -> str:
    """`<split>-<n>-seed<seed>`, plus `-w<hash>` of the weights unless uniform: sets drawn with other
    settings get other names, so one never replaces another by default."""
    base = f"{split}-{n}-seed{seed}"
    return base if weights == "uniform" else f"{base}-w{stable_hash(weights, n=6)}"


def sample(
    ws: Workspace, dataset: str | None = None, *, force: bool = False, **settings: Any
) -> SampleResult:
    """`run` with the settings as keywords (`SampleConfig`'s fields): the library's shorthand."""
    from ...core.config_files import validate_model

    config = validate_model(SampleConfig, {"dataset": dataset, **settings}, "sample settings")
    return run(ws, config, force=force)


def run(ws: Workspace, config: SampleConfig, *, force: bool = False) -> SampleResult:
    """Draw a prompt set (module docstring). `config.exclude_leaked`: leave out the items
    `check-leakage` flagged (their audio or question is in a dev/eval set); None = exactly when the
    dataset has a finished check-leakage run, False keeps them, True requires the run."""
    dataset, n, split, seed, name = config.dataset, config.n, config.split, config.seed, config.name
    exclude_leaked = config.exclude_leaked
    weights: str | dict[str, float] = config.weights
    ds = ws.dataset(dataset).name
    weights = parse_weights(weights)
    name = safe_name(name, "--name") if name is not None else default_name(split, n, seed, weights)
    pool = _pool(ws, ds, split)
    pool, excluded = _without_leaked(ws, ds, pool, exclude_leaked)  # a changed pool changes the run key
    config = {
        "n": n,
        "split": split,
        "weights": weights,
        "seed": seed,
        "name": name,
        "schema": PROMPTS.version,
    }
    inputs = {"pool": rows_fingerprint(sorted((it["item_id"], it["question_type"]) for it in pool))}
    run = StageRun(ws, STAGE, ds, config, inputs, force=force, unit=name)
    with run:
        if run.up_to_date:
            summary = (ws.provenance(STAGE, ds, name) or {}).get("summary", {})
            return result_from_summary(SampleResult, summary, dataset=ds, name=name, up_to_date=True)
        run.invalidate()
        if len(pool) < n:
            raise UserError(
                f"the {split} pool of {ds!r} has {len(pool)} items, fewer than --n {n}",
                fix="lower --n or sample from a larger split (--split all)",
            )
        chosen = draw(pool, n, weights, seed)
        rows = [
            {
                "dataset": ds,
                "item_id": it["item_id"],
                "question_type": it["question_type"],
                "source_dataset": it["source_dataset"],
                "draw": i,
            }
            for i, it in enumerate(chosen)
        ]
        out = run.output(PROMPTS.name, name)
        run.write_shard(out, 0, PROMPTS.from_pylist(rows), PROMPTS)
        by_type, by_source = (
            _breakdown(pool, chosen, "question_type"),
            _breakdown(pool, chosen, "source_dataset"),
        )
        run.finish(
            {
                "n": len(rows),
                "by_type": by_type,
                "by_source": by_source,
                "pool": len(pool),
                "excluded_leaked": excluded or 0,
            }
        )
    return SampleResult(
        dataset=ds,
        name=name,
        up_to_date=False,
        n=len(rows),
        by_type=by_type,
        by_source=by_source,
        excluded_leaked=excluded or 0,
    )
