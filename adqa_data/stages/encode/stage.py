"""`adqa-data encode`: decode each distinct clip once and cache its RVQ codes by content.

Plan -> shards -> finish, like every stage:

1. **Plan.** Resolve the codec from its config alone (no model load). Read the item table, collapse
   items to distinct audio (sha256 from download), and ask the cache which are already encoded under
   this codec key (fingerprint, N, rate). Only the rest is work: byte-identical audio shared by many
   items is encoded once, a rerun is all cache hits, and a killed run resumes from the shards it
   finished (each shard lands in the cache atomically, so "finished" is just "present").
2. **Shards.** The missing audio, longest first, cut into shards of about `shard_seconds` of audio. A
   shard task (`encode_shard`) is self-contained: it loads the codec (once per process), decodes and
   resamples clips in worker threads *ahead* of the codec (bounded prefetch), encodes batches of
   equal-ish length (`plan_batches`: total padded duration <= `batch_seconds`), and writes one cache
   shard. The same function runs in-process or as Ray tasks (`--engine ray`); the codes are identical
   because a clip's codes never depend on its batch (see `adqa_data.codecs.base`).
3. **Finish.** Index every item to its cached codes (`code_index/<dataset>/<codec_key>/`), quarantine
   items whose audio failed (missing, unreadable, changed since download, or the codec raised) with a
   reason, and record provenance. Items + quarantined = items read, always.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...codecs import resolve_codec
from ...codecs.cache import CodeCache
from ...core.config_files import run_shorthand
from ...core.engine import Engine, check_engine, map_unordered
from ...core.errors import UserError
from ...core.fingerprints import table_fingerprint
from ...core.quarantine import quarantine_row, write_quarantine
from ...core.results import result_from_summary
from ...core.schema import CODE_INDEX, CODES, QUARANTINE
from ...core.schema import QuarantineReason as R
from ...core.workspace import StageRun, Workspace
from .batching import default_threads, plan_shards
from .config import DEFAULT_NUM_CODEBOOKS, EncodeConfig
from .shard import encode_shard

STAGE = "encode"
INDEX_SHARD_ROWS = 100_000


@dataclass
class EncodeResult:
    dataset: str
    codec_key: str
    cache_dir: str
    up_to_date: bool
    items: int = 0  # items read
    indexed: int = 0  # items with codes
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    distinct_audio: int = 0
    cache_hits: int = 0  # distinct audio already in the cache before this run
    encoded: int = 0  # distinct audio encoded by this run
    audio_seconds: float = 0.0  # of audio encoded by this run
    padding_waste: float = 1.0  # padded samples / real samples over this run's model calls
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)


def encode(ws: Workspace, dataset: str | None = None, **keywords: Any) -> EncodeResult:
    """`run` with the settings as keywords (`EncodeConfig`'s fields, checked here, each problem one line
    naming its option); the other keywords are `run`'s."""
    return run_shorthand(run, ws, EncodeConfig, None, "encode settings", {**keywords, "dataset": dataset})


def run(
    ws: Workspace,
    config: EncodeConfig,
    *,
    engine: Engine = "local",
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> EncodeResult:
    """Encode every item's audio of one dataset into the code cache and index it (module docstring)."""
    engine = check_engine(engine)
    workspace, device = ws, config.device
    batch_seconds = config.effective_batch_seconds()
    ds = workspace.dataset(config.dataset)
    spec = resolve_codec(config.codec, dtype=config.dtype, device=device)
    n = spec.check_num_codebooks(
        config.num_codebooks if config.num_codebooks is not None else DEFAULT_NUM_CODEBOOKS.get(spec.family)
    )
    codec_key = spec.codec_key(n)
    cache = CodeCache(config.cache_dir or workspace.root / "cache" / "codes")

    key_config = {
        "codec": spec.to_json(),
        "codec_key": codec_key,
        "num_codebooks": n,
        "cache_dir": str(cache.root),
        "schemas": {t.name: t.version for t in (CODES, CODE_INDEX, QUARANTINE)},
    }
    inputs = {"items": table_fingerprint(workspace.table_dir("items", ds.name))}
    run = StageRun(
        workspace, STAGE, ds.name, key_config, inputs, force=force, extra_versions=("torch", "transformers")
    )
    with run:
        if run.up_to_date and _index_intact(workspace, ds.name, codec_key):
            prov = workspace.provenance(STAGE, ds.name) or {}
            s = prov.get("summary", {})
            return result_from_summary(
                EncodeResult,
                s,
                dataset=ds.name,
                codec_key=codec_key,
                cache_dir=str(cache.root),
                up_to_date=True,
                cache_hits=s.get("distinct_audio", 0),
                encoded=0,
                padding_waste=1.0,
                provenance=prov,
            )
        run.invalidate()
        items = workspace.items(
            ds.name, columns=["item_id", "row_index", "audio_path", "audio_sha256", "duration_s"]
        )
        rows = items.to_pylist()
        audio: dict[str, tuple[str, float]] = {}
        for r in rows:  # shared audio: the first item's path stands for all (same bytes)
            audio.setdefault(r["audio_sha256"], (r["audio_path"], float(r["duration_s"])))

        cache.register(
            codec_key,
            {
                "codec": spec.to_json(),
                "num_codebooks": n,
                "codebook_sizes": list(spec.codebook_sizes[:n]),
                "codec_key": codec_key,
            },
        )
        # --force recomputes: no entry is reused, each one this run writes replaces the one it would reuse
        present = {} if force else cache.present(codec_key)
        hits = sum(1 for sha in audio if sha in present)
        todo = sorted(
            ((sha, p, d) for sha, (p, d) in audio.items() if sha not in present), key=lambda t: (-t[2], t[0])
        )
        base = {
            "spec": spec.to_json(),
            "num_codebooks": n,
            "device": device,
            "cache_dir": str(cache.root),
            "root": ds.root,
            "codec_key": codec_key,
            "batch_seconds": batch_seconds,
            "max_batch_size": config.max_batch_size,
            "decode_workers": config.decode_workers,
            "threads": config.threads or default_threads(device, engine, config.decode_workers),
        }
        tasks = [{**base, "clips": clips} for clips in plan_shards(todo, config.shard_seconds)]

        done = hits
        if on_progress:
            on_progress(done, len(audio))

        def advance(k: int) -> None:
            nonlocal done
            done += k
            if on_progress:
                on_progress(done, len(audio))

        failed: dict[str, tuple[str, str]] = {}
        fresh: dict[str, tuple[str, int, int]] = {}  # written by this run: indexed over any older entry
        real = padded = 0
        encoded = 0
        audio_s = 0.0
        if engine == "ray":
            fn: Callable[[dict[str, Any]], dict[str, Any]] = encode_shard
            opts = {"num_gpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
            results = map_unordered(fn, tasks, engine="ray", ray_options=opts)
        else:
            fn = functools.partial(encode_shard, on_clips=advance)
            results = map_unordered(fn, tasks, engine="local", workers=1)
        for res in results:
            if engine == "ray":
                advance(len(res["encoded"]) + len(res["failed"]))
            for sha, reason, detail in res["failed"]:
                failed[sha] = (reason, detail)
            for sha, frames in res["encoded"]:
                fresh[sha] = (res["file"], n, frames)
            real += res["real_samples"]
            padded += res["padded_samples"]
            encoded += len(res["encoded"])
            audio_s += res["audio_seconds"]

        present = {**cache.present(codec_key), **fresh}
        index_rows, quarantined = [], []
        for r in rows:
            sha = r["audio_sha256"]
            if sha in present:
                file, nq, nf = present[sha]
                index_rows.append(
                    {
                        "dataset": ds.name,
                        "item_id": r["item_id"],
                        "audio_sha256": sha,
                        "codec_key": codec_key,
                        "num_codebooks": nq,
                        "num_frames": nf,
                        "cache_file": file,
                    }
                )
            else:
                reason, detail = failed.get(sha, (R.ENCODE_FAILED, "no codes were produced for this audio"))
                raw = json.dumps({"audio_path": r["audio_path"], "audio_sha256": sha})
                quarantined.append(
                    quarantine_row(r["row_index"], r["item_id"], reason, detail, raw),
                )
        assert len(index_rows) + len(quarantined) == len(rows), "item accounting broke"

        idx_dir = run.output(CODE_INDEX.name, codec_key)
        for i in range(0, max(len(index_rows), 1), INDEX_SHARD_ROWS):
            run.write_shard(
                idx_dir,
                i // INDEX_SHARD_ROWS,
                CODE_INDEX.from_pylist(index_rows[i : i + INDEX_SHARD_ROWS]),
                CODE_INDEX,
            )
        write_quarantine(run, quarantined)

        reasons = dict(sorted(Counter(q["reason"] for q in quarantined).items()))
        waste = padded / real if real else 1.0
        summary = {
            "codec_key": codec_key,
            "codec": spec.source,
            "family": spec.family,
            "num_codebooks": n,
            "items": len(rows),
            "indexed": len(index_rows),
            "quarantined": len(quarantined),
            "reasons": reasons,
            "distinct_audio": len(audio),
            "cache_hits": hits,
            "encoded": encoded,
            "audio_seconds_encoded": round(audio_s, 3),
            "padding_waste": round(waste, 4),
            "cache_dir": str(cache.root),
            "device": device,
            "dtype": spec.dtype,
            "engine": engine,
            "batch_seconds": batch_seconds,
        }
        prov = run.finish(summary)
    return EncodeResult(
        dataset=ds.name,
        codec_key=codec_key,
        cache_dir=str(cache.root),
        up_to_date=False,
        items=len(rows),
        indexed=len(index_rows),
        quarantined=len(quarantined),
        reasons=reasons,
        distinct_audio=len(audio),
        cache_hits=hits,
        encoded=encoded,
        audio_seconds=audio_s,
        padding_waste=waste,
        seconds=prov["seconds"],
        provenance=prov,
    )


def _index_intact(ws: Workspace, dataset: str, codec_key: str) -> bool:
    """The index exists and every cache shard it points at is still there (a pruned cache is re-done)."""
    try:
        idx = ws.read(CODE_INDEX, dataset, codec_key, columns=["cache_file"])
    except (UserError, OSError):
        return False
    return all(os.path.exists(f) for f in set(idx.column("cache_file").to_pylist()))
