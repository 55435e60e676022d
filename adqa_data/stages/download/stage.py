"""`adqa-data download`: upstream files -> the canonical item table, with every bad row quarantined.

Three phases, each resumable:
  1. read the manifest and map + validate every row (fast, in memory; `rows.py`);
  2. probe every distinct audio file once, in parallel, in fixed chunks written as `probes` shards
     (`probing.py`: the expensive part; a killed run keeps finished chunks);
  3. join rows with probes and write `items` and `quarantine` shards.
Identity that always holds: items + quarantined = input rows (non-blank manifest lines).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.engine import Engine, map_unordered
from ...core.errors import UserError
from ...core.fingerprints import file_sha256, tree_fingerprint
from ...core.names import safe_name
from ...core.quarantine import quarantine_row, write_quarantine
from ...core.results import result_from_summary
from ...core.schema import ITEMS, PROBES, QUARANTINE
from ...core.workspace import DatasetRecord, StageRun, Workspace, read_table
from ...sources import get_layout
from ...sources.base import MappedRow, RowLimits
from . import hub, probing
from .config import DownloadConfig
from .rows import manifest_path, validate_rows
from .summary import STAGE, recorded_counts

ITEMS_SHARD_ROWS = 50_000


@dataclass
class DownloadResult:
    dataset: str
    root: str
    up_to_date: bool
    input_rows: int = 0
    items: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    probed_files: int = 0
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)


def download(
    workspace: Workspace,
    *,
    force: bool = False,
    engine: Engine = "local",
    on_progress: Callable[[int, int], None] | None = None,
    limits: RowLimits | None = None,
    **settings: Any,
) -> DownloadResult:
    """`run` with the settings as keywords (`DownloadConfig`'s fields; `limits` sets `max_options` and
    `max_text_chars`): the library's shorthand."""
    from ...core.config_files import validate_model

    if limits is not None:
        settings = {"max_options": limits.max_options, "max_text_chars": limits.max_text_chars, **settings}
    config = validate_model(DownloadConfig, settings, "download settings")
    return run(workspace, config, force=force, engine=engine, on_progress=on_progress)


def _source(ws: Workspace, config: DownloadConfig) -> tuple[Path, str | None, str | None, str, str | None]:
    """(dataset root, layout, name, source, resolved revision): a hub snapshot fetched, or the folder."""
    if config.hub is not None:
        pinned = hub.load_manifest(config.hub)
        repo, rev = pinned["repo_id"], config.revision or pinned.get("revision")
        dest = ws.root / "raw" / safe_name(config.name or pinned.get("name", config.hub), "dataset name")
        root, rev = hub.fetch_from_hub(repo, rev, dest)
        return (
            root,
            config.layout or pinned.get("layout"),
            config.name or pinned.get("name"),
            f"hub:{repo}",
            rev,
        )
    root = Path(config.from_dir).expanduser().absolute()  # type: ignore[arg-type]
    if not root.is_dir():
        raise UserError(f"dataset directory {root} does not exist", fix="check the --from-dir path")
    return root, config.layout, config.name, f"dir:{root}", None


def run(
    ws: Workspace,
    config: DownloadConfig,
    *,
    force: bool = False,
    engine: Engine = "local",
    on_progress: Callable[[int, int], None] | None = None,
) -> DownloadResult:
    """Normalise one dataset into `items/<name>/` (see the module docstring)."""
    if config.name is not None:
        safe_name(config.name, "--name")
    limits = RowLimits(max_options=config.max_options, max_text_chars=config.max_text_chars).check()
    root, layout, name, source, revision = _source(ws, config)
    lay = get_layout(layout, root, config.manifest, config.mapping, config.split)
    name = safe_name(name or lay.name, "dataset name")
    settings = {
        "layout": lay.name,
        "manifest": lay.manifest,
        "split": lay.split,
        "root": str(root),
        "mapping": getattr(lay, "mapping", None),
        "schemas": {t.name: t.version for t in (ITEMS, PROBES, QUARANTINE)},
        "limits": {
            "max_options": limits.max_options,
            "max_text_chars": limits.max_text_chars,
            "max_audio_seconds": config.max_audio_seconds,
        },
    }
    inputs = {
        "manifest_sha256": file_sha256(manifest_path(root, lay.manifest)),
        "tree": tree_fingerprint(root, exclude=(ws.root,)),
    }
    stage_run = StageRun(ws, STAGE, name, settings, inputs, force=force)
    with stage_run:
        if stage_run.up_to_date:
            prov = ws.provenance(STAGE, name) or {}
            # the counts the tables hold, so the report can never disagree with what a reader gets
            return result_from_summary(
                DownloadResult,
                recorded_counts(ws, name),
                dataset=name,
                root=str(root),
                up_to_date=True,
                provenance=prov,
            )
        stage_run.invalidate()
        good, bad, n_rows = validate_rows(lay, root, limits)

        # phase 2: probe each distinct file once, in processes (per-file Python overhead holds the GIL,
        # so threads alone do not scale)
        probes_dir = stage_run.output("probes")
        paths = sorted({r.audio_path for r in good})
        todo, done_files = probing.probe_tasks(root, paths, probes_dir, config.max_audio_seconds)
        if on_progress:
            on_progress(done_files, len(paths))
        procs = config.workers or (os.cpu_count() or 1)
        probed_now = 0
        for count in map_unordered(
            probing.probe_chunk,
            todo,
            engine=engine,
            workers=None if engine == "ray" else procs,
            processes=True,
        ):
            probed_now += count
            done_files += count
            if on_progress:
                on_progress(done_files, len(paths))
        probes = {r["audio_path"]: r for r in read_table(probes_dir, PROBES).to_pylist()}

        # phase 3: join and write
        items, quarantined = _join(good, probes, name, lay.split)
        quarantined = bad + quarantined
        assert len(items) + len(quarantined) == n_rows, (
            "row accounting broke: items + quarantined != input rows"
        )
        items_dir = stage_run.output("items")
        for i in range(0, max(len(items), 1), ITEMS_SHARD_ROWS):
            shard = ITEMS.from_pylist(items[i : i + ITEMS_SHARD_ROWS])
            stage_run.write_shard(items_dir, i // ITEMS_SHARD_ROWS, shard, ITEMS)
        quarantined.sort(key=lambda q: (q["row_index"] is None, q["row_index"]))
        write_quarantine(stage_run, quarantined)

        ws.register_dataset(
            DatasetRecord(
                name=name, root=str(root), layout=lay.name, split=lay.split, source=source, revision=revision
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
            "revision": revision,
        }
        prov = stage_run.finish(summary)
    return result_from_summary(
        DownloadResult,
        summary,
        dataset=name,
        root=str(root),
        up_to_date=False,
        probed_files=probed_now,
        seconds=prov["seconds"],
        provenance=prov,
    )


def _join(
    good: list[MappedRow], probes: dict[str, dict[str, Any]], dataset: str, split: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Item rows for the rows whose audio probed well; quarantine records for the others."""
    items, quarantined = [], []
    for r in good:
        p = probes[r.audio_path]
        if p["error_reason"]:
            quarantined.append(
                quarantine_row(r.row_index, r.item_id, p["error_reason"], p["error_detail"], r.raw)
            )
            continue
        items.append(
            {
                "item_id": r.item_id,
                "dataset": dataset,
                "split": split,
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
    return items, quarantined
