"""Write an export as a Hugging Face dataset folder, check it by loading it back, push it to the Hub.

The folder is the Hub's own layout (`README.md` with the configs in its YAML header, Parquet files under
`data/<config>/`), so `datasets.load_dataset(folder, config)` reads it locally and the very same folder is
what `--push-to-hub` uploads: what was checked is what is published. Parquet is also what verl's
`data.train_files` and NeMo-RL read directly.

The check loads every config back with `datasets.load_dataset` (a throwaway cache, so nothing of the
check stays behind) and compares the row count and a sample of rows (first, last and a few seeded ones),
every column, with the rows that were written.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UserError
from .card import data_path

SAMPLE_ROWS = 5


def write_folder(out: Path, configs: dict[str, pa.Table], split: str, card: str) -> list[Path]:
    """Parquet per config plus README.md into `out` (created; an existing export there is replaced)."""
    import datasets

    if out.exists() and any(out.iterdir()):
        if not (out / "README.md").exists():
            raise UserError(
                f"{out} exists and is not an export folder", fix="choose an empty or new --out folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for config, table in configs.items():
        path = out / data_path(config, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset(table.replace_schema_metadata(None)).to_parquet(str(path))
        written.append(path)
    (out / "README.md").write_text(card)
    return [out / "README.md", *written]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9) or (
            math.isnan(a) and math.isnan(b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _sample(n: int) -> list[int]:
    if n == 0:
        return []
    rng = np.random.default_rng(0)
    picks = {0, n - 1, *(int(i) for i in rng.choice(n, size=min(n, SAMPLE_ROWS), replace=False))}
    return sorted(picks)


def verify(out: Path, configs: dict[str, pa.Table], split: str) -> dict[str, Any]:
    """Load every config back and compare counts and sampled rows; the result goes into the report."""
    import datasets

    result: dict[str, Any] = {"ok": True, "configs": {}}
    with tempfile.TemporaryDirectory(prefix="adqa-export-check-") as cache:
        for config, table in configs.items():
            loaded = datasets.load_dataset(str(out), config, split=split, cache_dir=cache)
            rows = _sample(table.num_rows)
            mismatches = []
            if loaded.column_names != table.column_names:
                mismatches.append({"columns": {"written": table.column_names, "loaded": loaded.column_names}})
            else:
                for i in rows:
                    want, got = table.slice(i, 1).to_pylist()[0], loaded[i]
                    bad = [c for c in table.column_names if not _same(want[c], got[c])]
                    if bad:
                        mismatches.append({"row": i, "columns": bad})
            entry = {
                "rows": table.num_rows,
                "loaded_rows": loaded.num_rows,
                "rows_compared": len(rows),
                "mismatches": mismatches,
            }
            entry["ok"] = loaded.num_rows == table.num_rows and not mismatches
            result["ok"] = result["ok"] and entry["ok"]
            result["configs"][config] = entry
            del loaded
    return result


def push(out: Path, repo: str, private: bool, message: str) -> str:
    """Upload the checked folder as a dataset repo (created when missing); returns the repo URL.

    `private=False` leaves the visibility to the Hub's default for the account or organisation."""
    from huggingface_hub import HfApi

    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise UserError(
            "cannot push: HF_HUB_OFFLINE is set", fix="unset HF_HUB_OFFLINE, or export with --out only"
        )
    api = HfApi()
    url = api.create_repo(repo_id=repo, repo_type="dataset", private=True if private else None, exist_ok=True)
    api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=str(out), commit_message=message)
    return str(url)
