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


S = TypeVar("S")


def map_with_state(
    fn: Callable[[S, T], R],
    make_state: Callable[[], S],
    close_state: Callable[[S], None],
    tasks: Iterable[T],
    engine: Engine = "local",
    workers: int | None = None,
    ray_options: dict[str, Any] | None = None,
) -> Iterator[R]:
    """`fn(state, task)` for every task, yielding results as they finish, where each worker makes its
    `state` once (a loaded model) and closes it when the tasks are done: in-process, one state for all
    tasks; on Ray, one actor per worker that owns its state (`workers` of them, default as many as the
    cluster has room for with `ray_options`), so nothing is cached in a module between tasks."""
    tasks = list(tasks)
    if not tasks:
        return iter(())
    if engine == "ray":
        return _map_ray_actors(fn, make_state, close_state, tasks, workers, ray_options or {})
    return _map_local_state(fn, make_state, close_state, tasks)


def _map_local_state(
    fn: Callable[[S, T], R], make: Callable[[], S], close: Callable[[S], None], tasks: list[T]
) -> Iterator[R]:
    state = make()
    try:
        for t in tasks:
            yield fn(state, t)
    finally:
        close(state)


class _StateHolder:
    """A Ray actor's body: the state it made, and the tasks run against it."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.state = make()

    def run(self, fn: Callable[[Any, Any], Any], task: Any) -> Any:
        return fn(self.state, task)

    def close(self, close: Callable[[Any], None]) -> None:
        close(self.state)


def _room(ray: Any, options: dict[str, Any]) -> int:
    """How many actors with `options` the cluster holds at once (GPUs when they ask for one, else CPUs)."""
    resources = ray.cluster_resources()
    if options.get("num_gpus"):
        return int(resources.get("GPU", 0) // options["num_gpus"]) or 1
    return int(resources.get("CPU", 1) // options.get("num_cpus", 1)) or 1


def _map_ray_actors(
    fn: Callable[[S, T], R],
    make: Callable[[], S],
    close: Callable[[S], None],
    tasks: list[T],
    workers: int | None,
    options: dict[str, Any],
) -> Iterator[R]:
    ray = ray_init()
    holder = ray.remote(_StateHolder)
    holder = holder.options(**options) if options else holder
    actors = [holder.remote(make) for _ in range(min(workers or _room(ray, options), len(tasks)))]
    it = iter(tasks)
    pending = {actor.run.remote(fn, t): actor for actor, t in zip(actors, it)}
    try:
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(done)
            yield ray.get(done)
            nxt = next(it, None)
            if nxt is not None:
                pending[actor.run.remote(fn, nxt)] = actor
        ray.get([actor.close.remote(close) for actor in actors])
    finally:
        for actor in actors:
            ray.kill(actor)
