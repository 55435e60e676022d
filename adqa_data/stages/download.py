"""`adqa-data download`: upstream files -> the canonical item table, with every bad row quarantined.

Three phases, each resumable:
  1. read the manifest and map + validate every row (fast, in memory);
  2. probe every distinct audio file once, in parallel, in fixed chunks written as `probes` shards
     (the expensive part: a killed run keeps finished chunks);
  3. join rows with probes and write `items` and `quarantine` shards.
Identity that always holds: items + quarantined = input rows (non-blank manifest lines).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio.clips import AudioError, probe_audio
from ..core.engine import Engine, map_unordered
from ..core.errors import UserError
from ..core.fingerprints import file_sha256, tree_fingerprint
from ..core.names import safe_name
from ..core.schema import ITEMS, PROBES, QUARANTINE
from ..core.schema import QuarantineReason as R
from ..core.workspace import DatasetRecord, StageRun, Workspace, read_table
from ..sources import get_layout
from ..sources.base import (
    Layout,
    MappedRow,
    RowError,
    RowLimits,
    escapes_root,
    map_and_validate,
    read_jsonl,
    read_parquet_rows,
    safe_relative_path,
)

STAGE = "download"
PROBE_CHUNK = 256  # files per probes shard: the unit of resume and of a worker process's task
# longest clip accepted (--max-audio-seconds): every known AudioMCQ/DCASE clip is <= 30 s
MAX_AUDIO_SECONDS = 600.0
ITEMS_SHARD_ROWS = 50_000


@dataclass
class DownloadResult:
    dataset: str
    root: str
    up_to_date: bool
    input_rows: int
    items: int
    quarantined: int
    reasons: dict[str, int]
    probed_files: int
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- hub
def load_manifest(name: str) -> dict[str, Any]:
    """A pinned dataset manifest from `manifests/` (repo checkout) or the installed package copy."""
    import yaml

    safe_name(name, "--hub")  # a file name under manifests/, never a path
    here = Path(__file__).resolve().parent.parent
    for d in (here.parent / "manifests", here / "manifests"):
        p = d / f"{name}.yaml"
        if p.is_file():
            return yaml.safe_load(p.read_text())
    raise UserError(f"no dataset manifest named {name!r}", fix="see manifests/ for the known hub datasets")


def fetch_from_hub(repo_id: str, revision: str | None, dest: Path) -> tuple[Path, str]:
    """Resumable snapshot of a hub dataset repo into `dest`; returns (root, resolved commit)."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        sha = HfApi().dataset_info(repo_id, revision=revision).sha or (revision or "main")
        path = snapshot_download(repo_id, repo_type="dataset", revision=sha, local_dir=str(dest))
    except Exception as e:  # network, auth, offline mode: all user-fixable
        raise UserError(
            f"could not download {repo_id}@{revision or 'main'} from the Hugging Face hub: {e}",
            fix="check network/HF_TOKEN, or copy the dataset and use --from-dir DIR",
        ) from None
    return Path(path), sha


# -------------------------------------------------------------------------------------------- probing
def _probe_one(root: Path, real_root: str, rel: str, max_seconds: float | None = None) -> dict[str, Any]:
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
        p = probe_audio(path, max_seconds)
        row.update(
            sha256=p.sha256,
            duration_s=p.duration_s,
            sample_rate=p.sample_rate,
            num_channels=p.num_channels,
            num_frames=p.num_frames,
            format=p.format,
        )
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
        rows = list(pool.map(lambda rel: _probe_one(root, real_root, rel, task.get("max_seconds")), paths))
    StageRun.write_shard(Path(task["out_dir"]), task["index"], PROBES.from_pylist(rows), PROBES)
    return len(paths)


# --------------------------------------------------------------------------------------------- stage
def manifest_path(root: Path, manifest: str) -> Path:
    """Where a layout's manifest is. A relative name resolves inside the dataset root and may not climb
    out of it, lexically or through a link; an absolute path is taken as typed (the user named that file
    on purpose). Either way it must be a regular file (a FIFO would block the reader)."""
    if "\0" in manifest:
        raise UserError(f"--manifest {manifest!r} contains a NUL byte")
    given = Path(manifest).expanduser()
    if given.is_absolute():
        path = given
    else:
        try:
            rel = safe_relative_path(manifest)
        except RowError:
            raise UserError(
                f"--manifest {manifest} climbs out of the dataset root {root}",
                fix="give a path inside the root, or an absolute path",
            ) from None
        path = root / rel
        if escapes_root(path, os.path.realpath(root)):
            raise UserError(
                f"--manifest {manifest} is a link that resolves outside the dataset root {root}",
                fix="give the real file's absolute path if you mean it",
            )
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "not found"
        raise UserError(
            f"manifest {manifest} {what}",
            where=str(root),
            fix="point --from-dir at the dataset root that holds it, or fix --manifest",
        )
    return path


def read_rows(layout: Layout, root: Path):
    manifest = manifest_path(root, layout.manifest)
    return read_parquet_rows(manifest) if manifest.suffix == ".parquet" else read_jsonl(manifest)


def validate_rows(
    layout: Layout, root: Path, limits: RowLimits = RowLimits()
) -> tuple[list[MappedRow], list[dict[str, Any]], int]:
    """Map and validate every row; returns (good rows, quarantine records, input row count)."""
    good: list[MappedRow] = []
    bad: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    n = 0
    for raw in read_rows(layout, root):
        n += 1
        try:
            row = map_and_validate(layout, raw, limits)
        except RowError as e:
            bad.append(_quarantine(raw.row_index, e.item_id, e.reason, e.detail, raw.raw))
            continue
        if row.item_id in seen:
            bad.append(
                _quarantine(
                    row.row_index,
                    row.item_id,
                    R.DUPLICATE_ID,
                    f"id already used by row {seen[row.item_id]}",
                    row.raw,
                )
            )
            continue
        seen[row.item_id] = row.row_index
        good.append(row)
    return good, bad, n


def _quarantine(
    row_index: int | None, item_id: str | None, reason: str, detail: str, raw: str
) -> dict[str, Any]:
    return {"row_index": row_index, "item_id": item_id, "reason": reason, "detail": detail, "raw": raw}


def download(
    workspace: Workspace,
    from_dir: Path | None = None,
    hub: str | None = None,
    revision: str | None = None,
    layout: str | None = None,
    name: str | None = None,
    manifest: str | None = None,
    mapping: dict[str, str] | None = None,
    split: str | None = None,
    engine: Engine = "local",
    workers: int | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    limits: RowLimits = RowLimits(),
    max_audio_seconds: float | None = MAX_AUDIO_SECONDS,
) -> DownloadResult:
    """Normalise one dataset into `items/<name>/` (see the module docstring)."""
    if (from_dir is None) == (hub is None):
        raise UserError("give exactly one source: --from-dir DIR or --hub NAME")
    if name is not None:
        safe_name(name, "--name")
    limits.check()
    if max_audio_seconds is not None and not max_audio_seconds > 0:
        raise UserError(f"--max-audio-seconds must be positive, got {max_audio_seconds}")
    source: str
    if hub is not None:
        pinned = load_manifest(hub)
        repo, rev = pinned["repo_id"], revision or pinned.get("revision")
        dest = workspace.root / "raw" / safe_name(name or pinned.get("name", hub), "dataset name")
        root, rev = fetch_from_hub(repo, rev, dest)
        layout = layout or pinned.get("layout")
        name = name or pinned.get("name")
        source, resolved_rev = f"hub:{repo}", rev
    else:
        root = Path(from_dir).expanduser().absolute()  # type: ignore[arg-type]
        if not root.is_dir():
            raise UserError(f"dataset directory {root} does not exist", fix="check the --from-dir path")
        source, resolved_rev = f"dir:{root}", None

    lay = get_layout(layout, root, manifest, mapping, split)
    name = safe_name(name or lay.name, "dataset name")
    manifest_file = manifest_path(root, lay.manifest)
    config = {
        "layout": lay.name,
        "manifest": lay.manifest,
        "split": lay.split,
        "root": str(root),
        "mapping": getattr(lay, "mapping", None),
        "schemas": {t.name: t.version for t in (ITEMS, PROBES, QUARANTINE)},
        "limits": {
            "max_options": limits.max_options,
            "max_text_chars": limits.max_text_chars,
            "max_audio_seconds": max_audio_seconds,
        },
    }
    inputs = {
        "manifest_sha256": file_sha256(manifest_file),
        "tree": tree_fingerprint(root, exclude=(workspace.root,)),
    }
    run = StageRun(workspace, STAGE, name, config, inputs, force=force)
    with run:
        if run.up_to_date:
            prov = workspace.provenance(STAGE, name) or {}
            s = prov.get("summary", {})
            return DownloadResult(
                name,
                str(root),
                True,
                s.get("input_rows", 0),
                s.get("items", 0),
                s.get("quarantined", 0),
                s.get("reasons", {}),
                0,
                0.0,
                prov,
            )
        run.invalidate()
        good, bad, n_rows = validate_rows(lay, root, limits)

        # phase 2: probe each distinct file once
        probes_dir = run.output("probes")
        paths = sorted({r.audio_path for r in good})
        chunks = [paths[i : i + PROBE_CHUNK] for i in range(0, len(paths), PROBE_CHUNK)]
        # processes, one chunk each: per-file Python overhead holds the GIL, so threads do not scale;
        # a few threads inside a chunk still overlap its file reads
        procs = workers or (os.cpu_count() or 1)
        todo = [
            {
                "root": str(root),
                "paths": c,
                "out_dir": str(probes_dir),
                "index": i,
                "threads": 2,
                "max_seconds": max_audio_seconds,
            }
            for i, c in enumerate(chunks)
            if not StageRun.shard_done(probes_dir, i)
        ]
        done_files = len(paths) - sum(len(t["paths"]) for t in todo)
        if on_progress:
            on_progress(done_files, len(paths))
        probed_now = 0
        for count in map_unordered(
            probe_chunk, todo, engine=engine, workers=None if engine == "ray" else procs, processes=True
        ):
            probed_now += count
            done_files += count
            if on_progress:
                on_progress(done_files, len(paths))
        probes = {r["audio_path"]: r for r in read_table(probes_dir, PROBES).to_pylist()}

        # phase 3: join and write
        items, quarantined = [], list(bad)
        for r in good:
            p = probes[r.audio_path]
            if p["error_reason"]:
                quarantined.append(
                    _quarantine(r.row_index, r.item_id, p["error_reason"], p["error_detail"], r.raw)
                )
                continue
            items.append(
                {
                    "item_id": r.item_id,
                    "dataset": name,
                    "split": lay.split,
                    "source_dataset": r.source_dataset,
                    "question_type": r.question_type,
                    "question": r.question,
                    "choices": r.choices,
                    "answer_index": r.answer_index,
                    "answer_text": r.answer_text,
                    "audio_path": r.audio_path,
                    "audio_sha256": p["sha256"],
                    "duration_s": p["duration_s"],
                    "sample_rate": p["sample_rate"],
                    "num_channels": p["num_channels"],
                    "cot": r.cot,
                    "row_index": r.row_index,
                    "upstream_json": json.dumps(r.upstream, ensure_ascii=False) if r.upstream else None,
                }
            )
        assert len(items) + len(quarantined) == n_rows, (
            "row accounting broke: items + quarantined != input rows"
        )
        items_dir = run.output("items")
        for i in range(0, max(len(items), 1), ITEMS_SHARD_ROWS):
            run.write_shard(
                items_dir, i // ITEMS_SHARD_ROWS, ITEMS.from_pylist(items[i : i + ITEMS_SHARD_ROWS]), ITEMS
            )
        qdir = run.output("quarantine", STAGE)
        quarantined.sort(key=lambda q: (q["row_index"] is None, q["row_index"]))
        qrows = [{"dataset": name, "stage": STAGE, **q} for q in quarantined]
        run.write_shard(qdir, 0, QUARANTINE.from_pylist(qrows), QUARANTINE)

        workspace.register_dataset(
            DatasetRecord(
                name=name,
                root=str(root),
                layout=lay.name,
                split=lay.split,
                source=source,
                revision=resolved_rev,
            )
        )
        reasons = dict(sorted(Counter(q["reason"] for q in quarantined).items()))
        summary = {
            "input_rows": n_rows,
            "items": len(items),
            "quarantined": len(quarantined),
            "reasons": reasons,
            "distinct_audio_files": len(paths),
            "probed_this_run": probed_now,
            "source": source,
            "revision": resolved_rev,
        }
        prov = run.finish(summary)
    return DownloadResult(
        name,
        str(root),
        False,
        n_rows,
        len(items),
        len(quarantined),
        reasons,
        probed_now,
        prov["seconds"],
        prov,
    )
