"""The items of an audio-contribution split that have a gold answer: what sample draws prompts from and
what SFT trains on, read one way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.errors import UserError
from ..core.schema import ITEM_SCORES
from ..core.workspace import Workspace


def gold_items(
    ws: Workspace, dataset: str, split: str, columns: Sequence[str], *, instead: str
) -> list[dict[str, Any]]:
    """The items of `split` (weak | strong | all) with a gold answer (nothing rewards or teaches an item
    without one), as `columns` (which must include item_id and answer_index), in table order. `instead`:
    the command's way round a dataset not yet filtered (e.g. "sample from every item with --split all")."""
    items = [r for r in ws.items(dataset, columns=list(columns)).to_pylist() if r["answer_index"] is not None]
    if split == "all":
        return items
    scores = ws.read(ITEM_SCORES, dataset, columns=["item_id", "split"])
    if scores.num_rows == 0:
        raise UserError(
            f"dataset {dataset!r} has no audio-contribution split yet",
            fix=f"run 'adqa-data filter' first, or {instead}",
        )
    keep = {r["item_id"] for r in scores.to_pylist() if r["split"] == split}
    return [r for r in items if r["item_id"] in keep]
