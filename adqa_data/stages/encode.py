"""`adqa-data encode`: decode each distinct clip once and cache its RVQ codes by content.

The encode stage's plan, shard worker and finish, which share the batching rules below.

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
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.clips import AudioError, read_item_audio, stable_detail
from ..codecs import CodecSpec, load_codec, resolve_codec
from ..codecs.cache import CodeCache
from ..core.engine import Engine, map_unordered
from ..core.errors import UserError
from ..core.fingerprints import table_fingerprint
from ..core.schema import CODE_INDEX, CODES, QUARANTINE
from ..core.schema import QuarantineReason as R
from ..core.workspace import StageRun, Workspace

STAGE = "encode"
DEFAULT_CODEC = "mimo-audio"
DEFAULT_NUM_CODEBOOKS = {"mimo": 8}  # the MiMo-Audio LM reads only the first 8 RVQ layers of its tokenizer
# CPU defaults, measured on the tiny codecs (benchmarks/encode.py): a convolutional codec is no faster per
# second of audio in bigger batches on a CPU, so batches stay small (about one long clip); GPUs want more.
CPU_BATCH_SECONDS = 30.0
GPU_BATCH_SECONDS = 600.0
MAX_BATCH_SIZE = 64
SHARD_SECONDS = 1800.0  # audio per cache shard: the unit of resume and of Ray work
SHARD_MAX_CLIPS = 2048
INDEX_SHARD_ROWS = 100_000


@dataclass
class EncodeResult:
    dataset: str
    codec_key: str
    cache_dir: str
    up_to_date: bool
    items: int  # items read
    indexed: int  # items with codes
    quarantined: int
    reasons: dict[str, int]
    distinct_audio: int
    cache_hits: int  # distinct audio already in the cache before this run
    encoded: int  # distinct audio encoded by this run
    audio_seconds: float  # of audio encoded by this run
    padding_waste: float  # padded samples / real samples over this run's model calls
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ batching
def plan_batches(
    lengths: Sequence[int], keys: Sequence[Hashable], batch_samples: int, max_batch_size: int = MAX_BATCH_SIZE
) -> list[list[int]]:
    """Consecutive batches of clip indices (in the given order: sort by length first).

    A batch's cost is its padded size, `count x longest`; a clip joins the open batch while that stays
    within `batch_samples` and its batch key matches (clips of another key would be split into another
    model call anyway). Every clip gets a batch, even one longer than the budget.
    """
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_key: Hashable = None
    longest = 0
    for i, (n, key) in enumerate(zip(lengths, keys)):
        if cur:
            new_longest = max(longest, n)
            if key != cur_key or new_longest * (len(cur) + 1) > batch_samples or len(cur) >= max_batch_size:
                batches.append(cur)
                cur, longest = [], 0
        if not cur:
            cur_key = key
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def padded_samples(codec, lengths: Sequence[int]) -> int:
    """Samples the model actually processes for one `encode` call (per batch-key group: count x longest)."""
    groups: dict[Hashable, list[int]] = {}
    for n in lengths:
        groups.setdefault(("k", codec.batch_key(n)), []).append(codec.padded_length(n))
    return sum(len(v) * max(v) for v in groups.values())


# ------------------------------------------------------------------------------------------ one shard
def _read_clip(root: str, path: str, sha256: str, sample_rate: int, resampler: str) -> np.ndarray:
    """The clip as download recorded it (same root confinement, same bytes), decoded and resampled the
    codec's way (`Codec.resampler`)."""
    return read_item_audio(root, path, sha256, sample_rate, resampler=resampler)


def encode_shard(task: dict[str, Any], on_clips: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Encode one shard of distinct audio into one cache shard. Self-contained (runs on Ray as is).

    torch's thread count is process-wide: it is set for the shard and restored after, so a library
    caller's setting survives."""
    import torch

    before = torch.get_num_threads()
    if task.get("threads"):
        torch.set_num_threads(int(task["threads"]))
    try:
        return _encode_shard(task, on_clips)
    finally:
        torch.set_num_threads(before)


def _encode_shard(task: dict[str, Any], on_clips: Callable[[int], None] | None) -> dict[str, Any]:
    spec = CodecSpec.from_json(task["spec"])
    codec = load_codec(spec, task["num_codebooks"], task["device"])
    # [sha256, path relative to task["root"], duration_s], longest first
    clips: list[list[Any]] = task["clips"]
    sr = codec.sample_rate
    est = [max(1, round(d * sr)) for _, _, d in clips]
    batches = plan_batches(
        est, [codec.batch_key(n) for n in est], int(task["batch_seconds"] * sr), int(task["max_batch_size"])
    )

    entries: list[tuple[str, np.ndarray]] = []
    failed: list[list[str]] = []
    stats = {"real_samples": 0, "padded_samples": 0, "codec_seconds": 0.0, "batches": 0}
    workers = max(1, int(task.get("decode_workers", 2)))
    prefetch = max(2, int(task.get("prefetch_batches", 2)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="adqa-decode") as pool:
        pending: deque[list[Future]] = deque()

        def submit(b: list[int]) -> list[Future]:
            return [
                pool.submit(_read_clip, task["root"], clips[i][1], clips[i][0], sr, codec.resampler)
                for i in b
            ]

        it = iter(batches)
        for b in it:
            pending.append(submit(b))
            if len(pending) > prefetch:
                break
        for b in batches:
            futures = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(submit(nxt))
            shas, waves = [], []
            for i, fut in zip(b, futures):
                try:
                    waves.append(fut.result())
                    shas.append(clips[i][0])
                except AudioError as e:
                    failed.append([clips[i][0], e.reason, e.detail])
            if waves:
                t0 = time.perf_counter()
                codes = _encode_batch(codec, shas, waves, failed)
                stats["codec_seconds"] += time.perf_counter() - t0
                stats["batches"] += 1
                stats["real_samples"] += sum(len(w) for w in waves)
                stats["padded_samples"] += padded_samples(codec, [len(w) for w in waves])
                entries.extend((s, c) for s, c in zip(shas, codes) if c is not None)
            if on_clips:
                on_clips(len(b))
    cache = CodeCache(task["cache_dir"])
    file = cache.write(task["codec_key"], entries, codec.codebook_sizes) if entries else None
    return {
        "file": str(file) if file else None,
        "encoded": [[s, c.shape[1]] for s, c in entries],
        "failed": failed,
        "audio_seconds": stats["real_samples"] / sr,
        **stats,
    }


def _encode_batch(
    codec, shas: list[str], waves: list[np.ndarray], failed: list[list[str]]
) -> list[np.ndarray | None]:
    """Encode a batch; if the codec raises, retry clip by clip and quarantine the ones that still fail."""
    try:
        return codec.encode(waves)
    except Exception:  # noqa: BLE001 - one bad clip (or an out-of-memory batch) must not stop the run
        if len(waves) == 1:
            out: list[np.ndarray | None] = [None]
            try:
                out = codec.encode(waves)
            except Exception as e:  # noqa: BLE001
                failed.append([shas[0], R.ENCODE_FAILED, stable_detail(f"{type(e).__name__}: {e}")[:500]])
            return out
        return [_encode_batch(codec, [s], [w], failed)[0] for s, w in zip(shas, waves)]


# ------------------------------------------------------------------------------------------ the stage
def _shards(todo: list[tuple[str, str, float]], shard_seconds: float) -> list[list[list[Any]]]:
    shards: list[list[list[Any]]] = []
    cur: list[list[Any]] = []
    total = 0.0
    for sha, path, dur in todo:
        if cur and (total + dur > shard_seconds or len(cur) >= SHARD_MAX_CLIPS):
            shards.append(cur)
            cur, total = [], 0.0
        cur.append([sha, path, dur])
        total += dur
    if cur:
        shards.append(cur)
    return shards


def encode(
    workspace: Workspace,
    dataset: str | None = None,
    codec: str = DEFAULT_CODEC,
    num_codebooks: int | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    dtype: str = "auto",
    batch_seconds: float | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    decode_workers: int = 2,
    threads: int | None = None,
    shard_seconds: float = SHARD_SECONDS,
    engine: Engine = "local",
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> EncodeResult:
    """Encode every item's audio of one dataset into the code cache and index it (module docstring)."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r}", fix="use cpu or cuda")
    if batch_seconds is None:
        batch_seconds = GPU_BATCH_SECONDS if device.startswith("cuda") else CPU_BATCH_SECONDS
    if batch_seconds <= 0 or max_batch_size < 1:
        raise UserError("--batch-seconds must be > 0 and --max-batch-size >= 1")
    if num_codebooks is not None and num_codebooks < 1:
        raise UserError(
            f"--num-codebooks must be at least 1, got {num_codebooks}",
            fix="leave it out for the codec's default",
        )
    ds = workspace.dataset(dataset)
    spec = resolve_codec(codec, dtype=dtype, device=device)
    n = spec.check_num_codebooks(
        num_codebooks if num_codebooks is not None else DEFAULT_NUM_CODEBOOKS.get(spec.family)
    )
    codec_key = spec.codec_key(n)
    cache = CodeCache(cache_dir or workspace.root / "cache" / "codes")

    config = {
        "codec": spec.to_json(),
        "codec_key": codec_key,
        "num_codebooks": n,
        "cache_dir": str(cache.root),
        "schemas": {t.name: t.version for t in (CODES, CODE_INDEX, QUARANTINE)},
    }
    inputs = {"items": table_fingerprint(workspace.table_dir("items", ds.name))}
    run = StageRun(
        workspace, STAGE, ds.name, config, inputs, force=force, extra_versions=("torch", "transformers")
    )
    with run:
        if run.up_to_date and _index_intact(workspace, ds.name, codec_key):
            prov = workspace.provenance(STAGE, ds.name) or {}
            s = prov.get("summary", {})
            return EncodeResult(
                ds.name,
                codec_key,
                str(cache.root),
                True,
                s.get("items", 0),
                s.get("indexed", 0),
                s.get("quarantined", 0),
                s.get("reasons", {}),
                s.get("distinct_audio", 0),
                s.get("distinct_audio", 0),
                0,
                0.0,
                1.0,
                0.0,
                prov,
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
            "max_batch_size": max_batch_size,
            "decode_workers": decode_workers,
            "threads": threads or default_threads(device, engine, decode_workers),
        }
        tasks = [{**base, "clips": clips} for clips in _shards(todo, shard_seconds)]

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
                quarantined.append(
                    {
                        "dataset": ds.name,
                        "stage": STAGE,
                        "row_index": r["row_index"],
                        "item_id": r["item_id"],
                        "reason": reason,
                        "detail": detail,
                        "raw": json.dumps({"audio_path": r["audio_path"], "audio_sha256": sha}),
                    }
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
        qdir = run.output(QUARANTINE.name, STAGE)
        run.write_shard(qdir, 0, QUARANTINE.from_pylist(quarantined), QUARANTINE)

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
        ds.name,
        codec_key,
        str(cache.root),
        False,
        len(rows),
        len(index_rows),
        len(quarantined),
        reasons,
        len(audio),
        hits,
        encoded,
        audio_s,
        waste,
        prov["seconds"],
        prov,
    )


def default_threads(device: str, engine: Engine, decode_workers: int) -> int | None:
    """torch CPU threads for the codec: the cores the decode threads leave free (at least one).

    Measured on a shared 2-core machine (benchmarks/encode.py, tiny Mimi): 2 torch threads next to 2
    decode threads ran 7x slower than 1 (OpenMP threads spinning against the decoders); on Ray each task
    gets one core. On a GPU torch's own default is kept.
    """
    if device != "cpu":
        return None
    if engine == "ray":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - decode_workers)


def _index_intact(ws: Workspace, dataset: str, codec_key: str) -> bool:
    """The index exists and every cache shard it points at is still there (a pruned cache is re-done)."""
    try:
        idx = ws.read(CODE_INDEX, dataset, codec_key, columns=["cache_file"])
    except (UserError, OSError):
        return False
    return all(os.path.exists(f) for f in set(idx.column("cache_file").to_pylist()))
