"""Worker processes sharing one service token through a store, for ``okta-guard demo --fleet``,
the fleet benchmark and the multi-process tests (fresh processes: forkserver or spawn).

Each worker builds its own :class:`~okta_guard.TokenClient` (so its own process-local
cache) and, for every round, waits for the round's start event, then has ``callers``
threads (or asyncio tasks) call ``get_token`` at once and reports each caller's
token and latency.  Its clock is ``time.time() + offset.value``, so the parent can
move the fleet's time forward (expire every token) between rounds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Fleet", "Job", "run_worker"]


@dataclass(frozen=True)
class Job:
    """What one worker process does."""

    issuer: str
    client_id: str
    secret: str
    scopes: tuple[str, ...]
    redis_url: str | None  # None: no shared store
    namespace: str
    callers: int
    rounds: int
    use_async: bool = False
    socket_timeout: float = 0.5  # of the workers' RedisStore


def run_worker(job: Job, offset: Any, starts: list[Any], results: Any) -> None:
    """The body of one worker process (see the module docstring)."""
    from okta_guard import TokenClient
    from okta_guard.redis import RedisStore

    store = None
    if job.redis_url:
        store = RedisStore(
            job.redis_url,
            namespace=job.namespace,
            socket_timeout=job.socket_timeout,
            connect_timeout=job.socket_timeout,
        )
    client = TokenClient(
        job.issuer,
        job.client_id,
        job.secret,
        scopes=job.scopes,
        store=store,
        clock=lambda: time.time() + offset.value,
    )
    results.put(("ready", None, 0.0))
    for number in range(job.rounds):
        starts[number].wait()
        if job.use_async:
            outcomes = asyncio.run(_round_async(client, job.callers))
        else:
            outcomes = _round_threads(client, job.callers)
        for token, elapsed in outcomes:
            results.put((number, token, elapsed))
    client.close()


def _call(client: Any) -> tuple[str, float]:
    began = time.perf_counter()
    try:
        token = client.get_token().access_token
    except Exception as exc:
        token = f"error: {type(exc).__name__}"
    return token, time.perf_counter() - began


def _round_threads(client: Any, callers: int) -> list[tuple[str, float]]:
    barrier = threading.Barrier(callers)
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def caller() -> None:
        barrier.wait()
        outcome = _call(client)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


async def _round_async(client: Any, callers: int) -> list[tuple[str, float]]:
    async def caller() -> tuple[str, float]:
        began = time.perf_counter()
        try:
            token = (await client.get_token_async()).access_token
        except Exception as exc:
            token = f"error: {type(exc).__name__}"
        return token, time.perf_counter() - began

    return list(await asyncio.gather(*(caller() for _ in range(callers))))


_PRELOAD = [
    "okta_guard.demo.fleet_workers",
    "okta_guard.call.client",
    "okta_guard.redis",
    "redis",
    "redis.asyncio",
    "httpx",
]


def worker_context() -> Any:
    """A multiprocessing context for fresh worker processes.

    ``forkserver`` where available: one server process imports the library once and
    forks every worker from it (fast, and no state of this process is inherited);
    else ``spawn``.
    """
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


class Fleet:
    """Starts ``processes`` workers running ``job`` and drives their rounds."""

    def __init__(self, job: Job, processes: int) -> None:
        self._ctx = worker_context()
        self.job = job
        self.offset = self._ctx.Value("d", 0.0)
        self._starts = [self._ctx.Event() for _ in range(job.rounds)]
        self._results = self._ctx.Queue()
        self._procs = [
            self._ctx.Process(
                target=run_worker,
                args=(job, self.offset, self._starts, self._results),
                daemon=True,
            )
            for _ in range(processes)
        ]

    def __enter__(self) -> Fleet:
        for proc in self._procs:
            proc.start()
        for _ in self._procs:
            self._get(60.0)  # every worker is ready (imports done, client built)
        return self

    def _get(self, timeout: float) -> tuple[Any, str | None, float]:
        import queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                item: tuple[Any, str | None, float] = self._results.get(timeout=0.2)
            except queue.Empty:
                dead = [p.exitcode for p in self._procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a worker process died (exit code {dead[0]})") from None
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"no word from the workers for {timeout:g} s") from None
                continue
            return item

    def run_round(self, number: int, *, timeout: float = 30.0) -> list[tuple[str, float]]:
        """Start round ``number``; return every caller's ``(token, seconds)``."""
        self._starts[number].set()
        expected = len(self._procs) * self.job.callers
        outcomes: list[tuple[str, float]] = []
        while len(outcomes) < expected:
            got, token, elapsed = self._get(timeout)
            if got != number:
                raise RuntimeError(f"a worker reported {got!r} during round {number}")
            outcomes.append((token or "", elapsed))
        return outcomes

    def advance(self, seconds: float) -> None:
        """Move every worker's clock forward."""
        with self.offset.get_lock():
            self.offset.value += seconds

    def __exit__(self, *exc: object) -> None:
        for event in self._starts:
            event.set()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
