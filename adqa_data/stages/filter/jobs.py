"""The vote jobs of the filter stage: each panel member's missing votes shards, answered and written.

A `ModelJob` is everything one member still has to answer (plain data: it runs in-process or as one
Ray task). It loads the member's backend once, puts each chunk's queries to it in one call (the
backend packs its own batches; the transformers backend shares the silent prefix across them), maps
the answers under rotation p back to the original option order, writes the chunk's votes shard, and
closes the backend before the next member loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.engine import Engine, map_unordered
from ...core.errors import UserError
from ...core.schema import VOTES
from ...core.workspace import StageRun
from ...inference.factory import default_device, load_backend
from ...inference.multiple_choice import ask
from ...inference.panel import PanelMember
from ...inference.types import Backend, Query
from .conditions import ConditionAudio, ConditionCodes, ItemRef, rotate, rotations
from .config import FilterConfig
from .voting import consensus

BackendFactory = Callable[..., Backend]


def member_backend(member: PanelMember, device: str | None = None) -> Backend:
    """The backend a panel member asks for (`backend: transformers | vllm`), loaded and ready."""
    options: dict[str, Any] = {"trust_remote_code": member.trust_remote_code}
    if member.backend == "vllm":
        options["revision"] = member.revision
    if member.reply_opens_with is not None:  # the panel's word on how this checkpoint's replies open
        options["reply_opens_with"] = member.reply_opens_with
    return load_backend(
        member.backend, member.model, family=member.family, device=device, dtype=member.dtype, **options
    )


@dataclass
class ChunkJob:
    """One votes shard to write: a chunk of items under one condition."""

    condition: str
    index: int
    out_dir: str
    items: list[ItemRef]


@dataclass
class ModelJob:
    """Everything one panel member still has to answer; runs in-process or as one Ray task."""

    dataset: str
    member: PanelMember  # with the effective mode
    options: FilterConfig
    chunks: list[ChunkJob]
    factory: BackendFactory
    codes: dict[str, str] | None = None  # a member that reads RVQ codes: {workspace, dataset, codec_key}


def score_chunk(
    backend: Backend, job: ModelJob, chunk: ChunkJob, audio: ConditionAudio | ConditionCodes
) -> list[dict[str, Any]]:
    """The votes rows of one chunk: every item under every rotation, mapped back to the original order."""
    member, K = job.member, job.options.permutations
    queries: list[Query] = []
    meta: list[tuple[ItemRef, int, str | None]] = []
    for it in chunk.items:
        x, audio_id, heard = audio.clip(chunk.condition, it)
        for p in rotations(len(it.choices), K):
            queries.append(
                Query(
                    key=f"{it.item_id}|{chunk.condition}|{p}",
                    question=it.question,
                    choices=rotate(it.choices, p),
                    audio_id=audio_id,
                    prompt_style=member.prompt_style,
                    **audio.query_fields(x),
                )
            )
            meta.append((it, p, heard))
    answers = ask(
        backend, member.mode, queries, max_new_tokens=job.options.max_new_tokens, seed=job.options.seed
    )
    rows = []
    for a, (it, p, heard) in zip(answers, meta):
        original = None if a.probs is None else np.roll(a.probs, p)  # shown j -> original (j + p) % n
        pred = None if original is None else consensus(original)
        rows.append(
            {
                "model": member.name,
                "dataset": job.dataset,
                "item_id": it.item_id,
                "condition": chunk.condition,
                "permutation": p,
                "mode": member.mode,
                "predicted_index": pred,
                "correct": pred == it.answer_index,
                "option_probs": None if original is None else original.tolist(),
                "audio_item_id": heard,
                "raw_text": a.raw_text,
                "parse_layer": a.parse_layer,
                "letter_mass": a.letter_mass,  # per rotation: each is its own read
            }
        )
    return rows


def open_member(job: ModelJob) -> Backend:
    """The job's member loaded; a model that cannot be found is a one-line UserError."""
    try:
        return job.factory(job.member, device=job.options.device)
    except OSError as e:  # transformers' "not a valid model identifier / no such file" and the like
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"panel member {job.member.name!r}: cannot load model {job.member.model}: {first}",
            fix="check the member's model (a local checkpoint folder or a hub id) and revision",
        ) from None


def condition_clips(job: ModelJob, backend: Backend) -> ConditionAudio | ConditionCodes:
    """Where the job's clips come from: waveforms at the backend's rate, or cached codes."""
    if job.codes:
        return ConditionCodes(job.options, job.codes, default_device(job.options.device))
    return ConditionAudio(job.options, backend.sample_rate)


def run_model_job(job: ModelJob, on_chunk: Callable[[str, ChunkJob], None] | None = None) -> dict[str, Any]:
    """Load one panel member, write its missing votes shards, release it. A Ray task or a local call."""
    t0 = time.time()
    backend = open_member(job)
    queries = 0
    try:
        audio = condition_clips(job, backend)
        for chunk in job.chunks:
            rows = score_chunk(backend, job, chunk, audio)
            audio.release_clips()
            StageRun.write_shard(Path(chunk.out_dir), chunk.index, VOTES.from_pylist(rows), VOTES)
            queries += len(rows)
            if on_chunk:
                on_chunk(job.member.name, chunk)
    finally:
        backend.close()
    return {
        "model": job.member.name,
        "chunks": len(job.chunks),
        "queries": queries,
        "seconds": round(time.time() - t0, 3),
    }


def ray_options() -> dict[str, Any]:
    """One model per GPU when the cluster has GPUs; one CPU slot otherwise."""
    from ...core.engine import ray_init

    ray = ray_init()
    return {"num_gpus": 1} if ray.cluster_resources().get("GPU", 0) >= 1 else {"num_cpus": 1}


def execute(
    jobs: list[ModelJob], engine: Engine, on_chunk: Callable[[str, ChunkJob], None] | None
) -> Iterator[dict]:
    """Run the model jobs: one after another in-process, or as parallel Ray tasks (same shards either way)."""
    if engine == "ray":
        for summary in map_unordered(run_model_job, jobs, engine="ray", ray_options=ray_options()):
            if on_chunk:
                for _ in range(summary["chunks"]):
                    on_chunk(summary["model"], None)  # type: ignore[arg-type]
            yield summary
        return
    for job in jobs:
        yield run_model_job(job, on_chunk)
