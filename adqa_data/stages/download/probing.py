"""Probing audio files: each distinct file once, in fixed chunks, each chunk written as one `probes` shard
(the expensive part of a download: a killed run keeps its finished chunks)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...audio.clips import AudioError, probe_audio
from ...core.schema import PROBES
from ...core.schema import QuarantineReason as R
from ...core.workspace import StageRun
from ...sources.base import escapes_root

PROBE_CHUNK = 256  # files per probes shard: the unit of resume and of a worker process's task


def probe_one(root: Path, real_root: str, rel: str, max_seconds: float | None = None) -> dict[str, Any]:
    """One file's probe row: its format and length, or the reason it cannot be used."""
    path = root / rel
    row: dict[str, Any] = {"audio_path": rel}
    if escapes_root(path, real_root):
        row.update(
            error_reason=R.LINK_ESCAPES_ROOT,
            error_detail=f"audio path {rel!r} is a link that resolves outside the root",
        )
        return row
    try:
        st = path.stat()
        row.update(size_bytes=st.st_size, mtime_ns=st.st_mtime_ns)
        row.update(asdict(probe_audio(path, max_seconds)))  # sha256, duration, rate, channels, frames, format
    except FileNotFoundError:
        row.update(error_reason=R.AUDIO_MISSING, error_detail=f"no such file: {rel}")
    except AudioError as e:
        row.update(error_reason=e.reason, error_detail=e.detail)
    except OSError as e:
        row.update(error_reason=R.AUDIO_UNREADABLE, error_detail=str(e))
    return row


def probe_chunk(task: dict[str, Any]) -> int:
    """Probe one chunk of files and write its `probes` shard (runs in-process or as a Ray task)."""
    root, paths = Path(task["root"]), task["paths"]
    real_root = os.path.realpath(root)
    with ThreadPoolExecutor(max_workers=task["threads"]) as pool:
        rows = list(pool.map(lambda rel: probe_one(root, real_root, rel, task.get("max_seconds")), paths))
    StageRun.write_shard(Path(task["out_dir"]), task["index"], PROBES.from_pylist(rows), PROBES)
    return len(paths)


def probe_tasks(
    root: Path, paths: list[str], out_dir: Path, max_seconds: float | None
) -> tuple[list[dict[str, Any]], int]:
    """The chunks still to probe (a chunk whose shard is written is done), and how many files are done."""
    chunks = [paths[i : i + PROBE_CHUNK] for i in range(0, len(paths), PROBE_CHUNK)]
    todo = [
        {
            "root": str(root),
            "paths": c,
            "out_dir": str(out_dir),
            "index": i,
            "threads": 2,  # a few threads inside a chunk overlap its file reads
            "max_seconds": max_seconds,
        }
        for i, c in enumerate(chunks)
        if not StageRun.shard_done(out_dir, i)
    ]
    return todo, len(paths) - sum(len(t["paths"]) for t in todo)
