"""The only code that describes the prompt sets `sample` writes: each set's balance against the pool it
was drawn from (by question type and by source), as `stats` reports it."""

from __future__ import annotations

from typing import Any

import polars as pl

from ...core.frames import frame, subdirs
from ...core.schema import ITEM_SCORES, PROMPTS
from ...core.workspace import Workspace
from .stage import STAGE


def _pool_frame(ws: Workspace, dataset: str, split: str | None) -> pl.DataFrame:
    """The answered items of `split` (every answered item for 'all' or an unknown split)."""
    items = pl.from_arrow(
        ws.items(dataset, columns=["item_id", "question_type", "source_dataset", "answer_index"])
    )
    items = items.filter(pl.col("answer_index").is_not_null())  # type: ignore[union-attr]
    if split in ("weak", "strong"):
        scores = frame(ws.table_dir(ITEM_SCORES.name, dataset), ITEM_SCORES, ["item_id", "split"])
        if scores is not None:
            items = items.filter(
                pl.col("item_id").is_in(scores.filter(pl.col("split") == split)["item_id"].implode())
            )
    return items


def _balance(pool: pl.DataFrame, chosen: pl.DataFrame, key: str) -> list[dict[str, Any]]:
    p = pool.select(pl.col(key).cast(pl.String).fill_null("(none)")).group_by(key).len("pool")
    c = chosen.select(pl.col(key).cast(pl.String).fill_null("(none)")).group_by(key).len("chosen")
    return (
        p.join(c, on=key, how="full", coalesce=True)
        .fill_null(0)
        .with_columns(
            pool_share=(pl.col("pool") / max(pool.height, 1)).round(4),
            chosen_share=(pl.col("chosen") / max(chosen.height, 1)).round(4),
        )
        .sort(key)
        .to_dicts()
    )


def describe(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Each prompt set of the dataset: its size, split, weights and balance; None without one."""
    sets: dict[str, Any] = {}
    for d in subdirs(ws.table_dir(PROMPTS.name, dataset)):
        chosen = frame(d, PROMPTS)
        if chosen is None:
            continue
        config = (ws.provenance(STAGE, dataset, d.name) or {}).get("config", {})
        pool = _pool_frame(ws, dataset, config.get("split"))
        sets[d.name] = {
            "n": chosen.height,
            "split": config.get("split"),
            "weights": config.get("weights"),
            "pool": pool.height,
            "by_question_type": _balance(pool, chosen, "question_type"),
            "by_source": _balance(pool, chosen, "source_dataset"),
        }
    return sets or None
