"""The one builder of a quarantine record: a row a stage refused, with its reason, so every stage's
quarantine table has the same columns filled the same way (`write_quarantine` adds the stage and dataset)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .schema import QUARANTINE

if TYPE_CHECKING:  # pragma: no cover
    from .workspace import StageRun


def quarantine_row(
    row_index: int | None, item_id: str | None, reason: str, detail: str | None, raw: str | None = None
) -> dict[str, Any]:
    """A refused row: where it was in the input, its id, a reason code (`QuarantineReason`), the detail
    in words and, where the stage read it, the original row verbatim."""
    return {"row_index": row_index, "item_id": item_id, "reason": reason, "detail": detail, "raw": raw}


def write_quarantine(run: StageRun, refused: Iterable[Mapping[str, Any]], *sub: str) -> Path:
    """Write the run's quarantine table, `quarantine/<dataset>/<stage>[/<sub>...]`: one row per refused
    row (as `quarantine_row` builds it) with the run's dataset and stage added; an empty table when
    nothing was refused, so a rerun replaces an earlier run's rows."""
    rows = [{"dataset": run.dataset, "stage": run.stage, **q} for q in refused]
    directory = run.output(QUARANTINE.name, run.stage, *sub)
    return run.write_shard(directory, 0, QUARANTINE.from_pylist(rows), QUARANTINE)
