"""Run a stage's shard tasks in-process (default) or on a Ray cluster (`--engine ray`): same code, same outputs.

A task is a plain function over one JSON-able shard spec that writes its own shard atomically and
returns a small summary. The in-process engine runs tasks on a thread pool (the heavy work in decode,
hashing, numpy and torch releases the GIL); the Ray engine submits the same function as Ray tasks.
Because each shard's content depends only on its spec, the outputs are identical either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, Literal, TypeVar

from .errors import UserError, require

T = TypeVar("T")
R = TypeVar("R")
Engine = Literal["local", "ray"]
ENGINES = ("local", "ray")


def check_engine(engine: str) -> Engine:
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}", fix=f"use one of: {', '.join(ENGINES)}")
    return engine  # type: ignore[return-value]


def map_unordered(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    engine: Engine = "local",
    workers: int | None = None,
    ray_options: dict[str, Any] | None = None,
    processes: bool = False,
) -> Iterator[R]:
    """Apply `fn` to every task, yielding results as they finish (at most `workers` in flight).

    `processes=True` runs local tasks in worker processes instead of threads: for work whose Python
    per-item overhead holds the GIL (probing thousands of small files), threads do not scale.
    """
    tasks = list(tasks)
    if not tasks:
        return iter(())
    if engine == "ray":
        return _map_ray(fn, tasks, workers, ray_options or {})
    return _map_local(fn, tasks, workers or 1, processes)


def _map_local(fn: Callable[[T], R], tasks: list[T], workers: int, processes: bool = False) -> Iterator[R]:
    workers = min(workers, len(tasks))
    if workers <= 1:
        for t in tasks:
            yield fn(t)
        return
    if processes:
        import multiprocessing

        # forkserver: never fork a process that may hold threads (rich, torch) mid-lock
        pool_cm: Any = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("forkserver")
        )
    else:
        pool_cm = ThreadPoolExecutor(max_workers=workers)
    with pool_cm as pool:
        pending: set[Future[R]] = set()
        it = iter(tasks)
        for t in it:
            pending.add(pool.submit(fn, t))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(pool.submit(fn, nxt))


def ray_init() -> Any:
    ray = require("ray", "ray", "--engine ray")
    if not ray.is_initialized():
        # joins a running cluster when RAY_ADDRESS is set, else starts a local one
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    return ray


def _map_ray(
    fn: Callable[[T], R], tasks: list[T], workers: int | None, options: dict[str, Any]
) -> Iterator[R]:
    ray = ray_init()
    remote = ray.remote(fn).options(**options) if options else ray.remote(fn)
    limit = workers or len(tasks)
    it = iter(tasks)
    # range first: zip stops on it before pulling (and dropping) one more task from `it`
    pending = [remote.remote(t) for _, t in zip(range(limit), it)]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])
        nxt = next(it, None)
        if nxt is not None:
            pending.append(remote.remote(nxt))
