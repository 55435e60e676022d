"""Tables as polars frames, and the small aggregations every stage's summary reports with: the one place
`stats`' sections (each owned by the stage that writes the table) read shards and count, so that a count,
a histogram or a quantile means the same in every section."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .schema import TableSpec
from .tables import read_table, shard_paths


def frame(directory: Path, spec: TableSpec, columns: list[str] | None = None) -> pl.DataFrame | None:
    """A table directory as a polars frame, None when it holds no shard."""
    if not shard_paths(directory):
        return None
    return pl.from_arrow(read_table(directory, spec, columns))  # type: ignore[return-value]


def subdirs(directory: Path) -> list[Path]:
    """The named sets under a table directory (hidden folders left out), sorted."""
    return (
        sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
        if directory.is_dir()
        else []
    )


def counts(df: pl.DataFrame, *keys: str) -> list[dict[str, Any]]:
    """Row counts by `keys`, nulls shown as '(none)', sorted by the keys."""
    return (
        df.select([pl.col(k).cast(pl.String).fill_null("(none)") for k in keys])
        .group_by(list(keys))
        .len("count")
        .sort(list(keys))
        .to_dicts()
    )


def rounded(x: float | None, nd: int = 4) -> float | None:
    """`x` rounded for a report; None for a missing or NaN value (JSON has no NaN)."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), nd) + 0.0


def histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> dict[str, list[float]]:
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in hist]}


def quantiles(values: np.ndarray) -> dict[str, float | None]:
    """mean, p10, median, p90 and max; empty for no values."""
    if values.size == 0:
        return {}
    return {
        "mean": rounded(values.mean()),
        "p10": rounded(np.percentile(values, 10)),
        "median": rounded(np.median(values)),
        "p90": rounded(np.percentile(values, 90)),
        "max": rounded(values.max()),
    }
