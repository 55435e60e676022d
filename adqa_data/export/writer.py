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

from ..core.errors import UserError
from .card import data_path

SAMPLE_ROWS = 5


def write_folder(out: Path, configs: dict[str, pa.Table], split: str, card: str, ident: dict) -> list[Path]:
    """The marker (`folder.MARKER`), Parquet per config and README.md into the new, empty folder `out`.

    A config with no rows is written as a schema-only file (`write_empty_parquet`)."""
    import datasets

    from .folder import write_marker

    out.mkdir(parents=True, exist_ok=True)
    written = [write_marker(out, ident)]
    for config, table in configs.items():
        path = out / data_path(config, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = table.replace_schema_metadata(None)
        if table.num_rows == 0:
            write_empty_parquet(path, table.schema)
        else:
            datasets.Dataset(table).to_parquet(str(path))
        written.append(path)
    (out / "README.md").write_text(card)
    return [out / "README.md", *written[1:]]


def copy_files(out: Path, files: dict[str, Path]) -> None:
    """Copy the files a format ships beside its data (`Built.files`) to their paths inside `out`."""
    for rel, src in files.items():
        dest = out / rel
        if dest.resolve().parent != out.resolve() and out.resolve() not in dest.resolve().parents:
            raise ValueError(f"{rel!r} is not a path inside the export folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def write_empty_parquet(path: Path, schema: pa.Schema) -> None:
    """A zero-row Parquet file without row groups (schema only), as `datasets.Dataset.to_parquet` writes
    an empty dataset (see `workspace.write_table_atomic` for how `datasets` reads such files)."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(str(path), schema):
        pass


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
            if table.num_rows == 0:
                # datasets builds no split of 0 rows ("corresponds to no data"); streaming reads it
                stream = datasets.load_dataset(str(out), config, split=split, streaming=True)
                loaded_rows = sum(1 for _ in stream)
                loaded = datasets.Dataset.from_dict(
                    {k: [] for k in stream.features}, features=stream.features
                )
            else:
                loaded = datasets.load_dataset(str(out), config, split=split, cache_dir=cache)
                loaded_rows = loaded.num_rows
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
                "loaded_rows": loaded_rows,
                "rows_compared": len(rows),
                "mismatches": mismatches,
            }
            entry["ok"] = loaded_rows == table.num_rows and not mismatches
            result["ok"] = result["ok"] and entry["ok"]
            result["configs"][config] = entry
            del loaded
    return result


def check_hub(repo: str) -> None:
    """Before anything is written: the Hub is reachable and the token is valid (one-line errors)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        raise UserError(
            "cannot push: HF_HUB_OFFLINE is set", fix="unset HF_HUB_OFFLINE, or export with --out only"
        )
    try:
        HfApi().whoami()
    except LocalTokenNotFoundError:
        raise UserError(
            f"cannot push to {repo}: no Hub token",
            fix="run 'hf auth login' or set HF_TOKEN, or use --out only",
        ) from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise UserError(
                f"cannot push to {repo}: the Hub refused the token (HTTP {status})",
                fix="run 'hf auth login' with a token that can write, or use --out only",
            ) from None
        raise UserError(f"cannot push to {repo}: the Hub answered {str(e).splitlines()[0]}") from None
    except (OSError, ConnectionError, TimeoutError) as e:
        raise UserError(
            f"cannot push to {repo}: the Hub is not reachable ({type(e).__name__})",
            fix="check the network (or HF_ENDPOINT), or export with --out only",
        ) from None
    except Exception as e:  # httpx/requests transport errors do not share a base class with OSError
        if type(e).__module__.split(".")[0] in ("httpx", "httpcore", "requests", "urllib3"):
            raise UserError(
                f"cannot push to {repo}: the Hub is not reachable ({type(e).__name__})",
                fix="check the network (or HF_ENDPOINT), or export with --out only",
            ) from None
        raise


def push(out: Path, repo: str, private: bool, message: str) -> str:
    """Upload the checked folder as a dataset repo (created when missing); returns the repo URL. The
    marker file stays local: it says which folders this machine's exports may replace.

    `private=False` leaves the visibility to the Hub's default for the account or organisation."""
    from huggingface_hub import HfApi

    from .folder import MARKER

    api = HfApi()
    url = api.create_repo(repo_id=repo, repo_type="dataset", private=True if private else None, exist_ok=True)
    api.upload_folder(
        repo_id=repo,
        repo_type="dataset",
        folder_path=str(out),
        commit_message=message,
        ignore_patterns=[MARKER],
    )
    return str(url)
