"""How encode cuts its work: clips into model calls (`plan_batches`, by padded size), distinct audio into
cache shards (`plan_shards`, by seconds of audio: the unit of resume and of Ray work), and the torch
threads a codec gets next to the decode threads."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from typing import Any

from ...core.engine import Engine
from .config import MAX_BATCH_SIZE

SHARD_MAX_CLIPS = 2048


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


def plan_shards(todo: list[tuple[str, str, float]], shard_seconds: float) -> list[list[list[Any]]]:
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
