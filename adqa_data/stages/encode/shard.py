"""One encode shard task: decode and resample clips in worker threads ahead of the codec (bounded
prefetch), encode them in batches of equal-ish length, write one cache shard. Self-contained: the same
function runs in-process or as a Ray task, and a clip's codes never depend on its batch
(`adqa_data.codecs.base`)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ...audio.clips import AudioError, read_item_audio, stable_detail
from ...codecs import CodecSpec, load_codec
from ...codecs.cache import CodeCache
from ...core.schema import QuarantineReason as R
from .batching import padded_samples, plan_batches


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
