"""`stats`' training section: each training run's metrics log (runs/<dataset>/<name>/*.jsonl), read
leniently (a line that is not a JSON object of numbers is counted and skipped): curves and last values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import polars as pl

from ...core.frames import subdirs
from ...core.workspace import Workspace

# curves drawn from a run's metrics log (all keys are reported): TRL's names and the bundled trainer's
TRAINING_KEYS = (
    "reward",
    "kl",
    "loss",
    "nll",
    "clip_ratio",
    "clip_ratio/region_mean",
    "entropy",
    "grad_norm",
    "learning_rate",
)
MAX_CURVES = 9


def read_metrics_log(path: Path) -> tuple[list[dict[str, float]], int]:
    """Numeric fields of every JSON object line of a metrics log, and the count of lines skipped."""
    rows, skipped = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        if not isinstance(obj, dict):
            skipped += 1
            continue
        num = {
            k: float(v)
            for k, v in obj.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }
        if num:
            rows.append(num)
        else:
            skipped += 1
    return rows, skipped


def _curves(df: pl.DataFrame) -> dict[str, dict[str, list[Any]]]:
    if "step" not in df.columns:
        df = df.with_row_index("step").with_columns(pl.col("step").cast(pl.Float64))
    curves = {}
    for k in (c for c in df.columns if c != "step"):
        s = df.select("step", k).drop_nulls().sort("step")
        if s.height:
            curves[k] = {
                "step": [int(x) if float(x).is_integer() else x for x in s["step"].to_list()],
                "value": [round(float(v), 6) for v in s[k].to_list()],
            }
    return curves


def training_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Every run folder with a metrics log; None without one."""
    runs: dict[str, Any] = {}
    for d in subdirs(ws.root / "runs" / dataset):
        logs = sorted(d.glob("*.jsonl"))
        if not logs:
            continue
        rows: list[dict[str, float]] = []
        skipped = 0
        for log in logs:
            r, s = read_metrics_log(log)
            rows += r
            skipped += s
        run: dict[str, Any] = {
            "files": [p.name for p in logs],
            "records": len(rows),
            "skipped_lines": skipped,
        }
        if not rows:
            runs[d.name] = {**run, "curves": {}}
            continue
        curves = _curves(pl.DataFrame(rows))  # keys missing from a line are null
        runs[d.name] = {
            **run,
            "last": {k: c["value"][-1] for k, c in curves.items()},
            "curves": curves,
            "plotted": [k for k in curves if k in TRAINING_KEYS or k.startswith("reward")][:MAX_CURVES],
        }
    return runs or None
