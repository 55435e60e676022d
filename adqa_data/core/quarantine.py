"""The one builder of a quarantine record: a row a stage refused, with its reason, so every stage's
quarantine table has the same columns filled the same way (the stage and dataset are added on write)."""

from __future__ import annotations

from typing import Any


def quarantine_row(
    row_index: int | None, item_id: str | None, reason: str, detail: str | None, raw: str | None = None
) -> dict[str, Any]:
    """A refused row: where it was in the input, its id, a reason code (`QuarantineReason`), the detail
    in words and, where the stage read it, the original row verbatim."""
    return {"row_index": row_index, "item_id": item_id, "reason": reason, "detail": detail, "raw": raw}
