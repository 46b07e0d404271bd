"""One operation in flight, awaited by any mix of threads and asyncio tasks (single flight).

A :class:`Flight` is created by the caller that *leads* an operation (a key set fetch, a
token request); every other caller that needs the same result waits for it instead of
starting its own.  Threads wait on a :class:`threading.Event`; tasks await a future of
their own event loop, resolved thread-safely with ``loop.call_soon_threadsafe`` - so a
task never blocks its loop while a thread leads, and a thread may wait for a flight led
by a task on another loop.

Every wait has a deadline: :meth:`Flight.wait` and :meth:`Flight.wait_async` return
``False`` when it passes, and the caller reports "try again later" instead of hanging
behind a leader that is itself stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Generic, TypeVar

__all__ = ["Flight", "running_loop"]

T = TypeVar("T")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or ``None`` (a plain thread)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a waiter that timed out has cancelled its future
            future.set_result(None)


class Flight(Generic[T]):
    """One operation in progress, with the result its leader publishes with :meth:`finish`.

    ``leader_loop`` is the event loop of the leading task (``None`` for a thread) and
    ``thread`` the leader's thread id: a sync caller on that very loop's thread must not
    block on the flight (it would deadlock), which :meth:`led_from_this_thread` tells.
    """

    def __init__(self, leader_loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.leader_loop = leader_loop
        self.thread = threading.get_ident()
        self.result: T | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}

    @property
    def done(self) -> bool:
        """Tell whether the leader has published its result."""
        return self._done.is_set()

    def led_from_this_thread(self) -> bool:
        """Tell whether an event loop running in the calling thread leads this flight."""
        return self.leader_loop is not None and self.thread == threading.get_ident()

    def finish(self, result: T) -> None:
        """Publish ``result`` and wake every waiting thread and task (only the first counts)."""
        with self._lock:
            if self._done.is_set():
                return
            self.result = result
            self._done.set()
            waiters, self._waiters = self._waiters, {}
        for loop, futures in waiters.items():
            # A closed loop raises RuntimeError: nobody is left there to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve_all, futures)

    def wait(self, timeout: float | None) -> bool:
        """Block this thread until the flight finishes or ``timeout`` seconds pass.

        Returns whether it finished.
        """
        if timeout is not None and timeout <= 0:
            return self._done.is_set()
        return self._done.wait(timeout)

    async def wait_async(self, timeout: float | None) -> bool:
        """Wait without blocking the event loop until the flight finishes or ``timeout`` passes.

        Returns whether it finished.  The waiter is registered before the first
        suspension, so a leader started right after this call cannot be missed.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return True
            self._waiters.setdefault(loop, []).append(future)
        if timeout is not None and timeout <= 0:
            future.cancel()
            return self._done.is_set()
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return self._done.is_set()
        return True
