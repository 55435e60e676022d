"""Fingerprints: short hashes that say whether a stage's inputs are still the ones it ran on.

A stage's run key (`workspace.StageRun`) is a hash of its config and of one fingerprint per input; a
rerun with equal fingerprints is up to date, any change starts clean. Every stage takes its
fingerprints from here, so "the same input" means the same thing everywhere:

- `table_fingerprint`: the content of a workspace table's shards (sha256 of each file), for a stage
  that reads a whole table (encode and filter read the item table).
- `rows_fingerprint`: exactly the values a stage reads, for a stage that reads a selection (sample
  reads the answered items of a split; rollout the prompt set joined with its items), so unrelated
  changes to other rows or columns do not invalidate it.
- `model_fingerprint`: a model as named in a config: a local checkpoint by its files (names, sizes,
  mtimes), a hub id by id and revision.
- `tree_fingerprint` / `file_sha256`: a source directory and a single file (download).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def stable_hash(obj: Any, n: int = 16) -> str:
    """Hash of a JSON-able object, independent of dict order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_fingerprint(root: Path, exclude: tuple[Path, ...] = ()) -> str:
    """Fingerprint of a directory tree from names, sizes and mtimes (no content reads: fast).

    `exclude` names folders to skip, e.g. a workspace that lives inside the dataset root.
    """
    h = hashlib.sha256()
    skip = {os.path.abspath(p) for p in exclude}
    stack = [root]
    entries: list[tuple[str, int, int]] = []
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                if e.path in skip:
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                        continue
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((os.path.relpath(e.path, root), st.st_size, st.st_mtime_ns))
    for rel, size, mtime in sorted(entries):
        h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()[:16]


def table_fingerprint(directory: Path) -> str:
    """Content hash of a table directory's finished shards (`part-*.parquet`, in name order)."""
    parts = sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []
    return stable_hash([file_sha256(p) for p in parts])


def rows_fingerprint(rows: Iterable[Any]) -> str:
    """Hash of the values a stage reads, in the order it reads them (JSON-able rows)."""
    return stable_hash(list(rows))


def model_fingerprint(model: str | None, revision: str | None = None) -> str:
    """A local checkpoint directory by its files ("dir:..."); otherwise the hub id at its revision
    ("hub:<id>@<revision or main>"); "none" for no model (the scripted backend)."""
    if model is None:
        return "none"
    p = Path(model).expanduser()
    if p.is_dir():
        return f"dir:{tree_fingerprint(p)}"
    return f"hub:{model}@{revision or 'main'}"
