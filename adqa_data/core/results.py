"""What a stage returns, built by keyword from the summary it records: a rerun that is up to date returns
the same result as the run that did the work, read back from its provenance record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

R = TypeVar("R")


def result_from_summary(cls: type[R], summary: Mapping[str, Any], /, **given: Any) -> R:
    """`cls(**given, **the summary's keys that are fields of cls)`; fields absent from both keep their
    defaults (a record written by an older version may lack a newer field)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in summary.items() if k in names and k not in given}, **given)


@dataclass(kw_only=True)
class SetResult:
    """What a stage that writes one named set in shards returns (eval's predictions, rollout's groups):
    its fields, and each such stage's own beside them."""

    dataset: str
    name: str
    up_to_date: bool
    rows: int = 0
    shards: int = 0
    shards_written: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    out_dir: str = ""

    @classmethod
    def recorded(cls, record: Mapping[str, Any] | None, **given: Any) -> Self:
        """A rerun that found the set up to date: the figures its run recorded (`record`, the set's
        provenance), nothing written now."""
        s = (record or {}).get("summary", {})
        return result_from_summary(cls, s, up_to_date=True, shards_written=0, summary=s, seconds=0.0, **given)

    @classmethod
    def finished(cls, summary: Mapping[str, Any], seconds: float, **given: Any) -> Self:
        """A run that wrote the set: its summary (which counts the shards written) and its time."""
        return result_from_summary(
            cls, summary, up_to_date=False, summary=dict(summary), seconds=seconds, **given
        )
