"""Shared helpers for the token client tests: a client on the mock issuer, a gated transport."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx

from okta_guard.call.client import RetrySettings, TokenClient
from okta_guard.testing import FakeClock, MockIssuer

SECRET = "s3cr3t-value-that-must-never-leak-0123456789"
SCOPE = "orders:read"


class Sleeps:
    """Records the delays a client asked to wait for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_okta(clock: FakeClock | None = None, **kwargs: Any) -> MockIssuer:
    """An in-process mock issuer with client ``svc`` granted ``orders:read``."""
    okta = MockIssuer(clock=clock or FakeClock(), **kwargs)
    okta.register_client("svc", SECRET, scopes=[SCOPE, "orders:write"])
    return okta


def make_client(
    okta: MockIssuer,
    clock: Callable[[], float] | None = None,
    *,
    sleeps: Sleeps | None = None,
    transport: Any = None,
    client_id: str = "svc",
    secret: str | None = SECRET,
    scopes: Any = (SCOPE,),
    **kwargs: Any,
) -> TokenClient:
    """A :class:`TokenClient` talking to ``okta`` in-process, sleeping into ``sleeps``."""
    sleeps = sleeps or Sleeps()
    transport = transport or okta.transport
    kwargs.setdefault("retry", RetrySettings())
    return TokenClient(
        okta.issuer,
        client_id,
        secret,
        scopes=scopes,
        clock=clock or okta.clock,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        sleep=sleeps,
        async_sleep=sleeps.async_sleep,
        rand=lambda: 0.0,
        **kwargs,
    )


class GatedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a transport; the first ``gated`` requests wait until the test opens the gate.

    ``entered`` is set when a gated request arrives.  Works for threads
    (``threading.Event``) and for one event loop (``asyncio.Event`` bound lazily).
    """

    def __init__(self, inner: Any, gated: int = 1) -> None:
        self.inner = inner
        self.gated = gated
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self._async_release: asyncio.Event | None = None
        self._lock = threading.Lock()

    def _take(self) -> bool:
        with self._lock:
            self.calls += 1
            return self.calls <= self.gated

    def open(self) -> None:
        """Let gated requests through (thread-safe)."""
        self.release.set()
        event = self._async_release
        if event is not None:
            loop = self._loop
            loop.call_soon_threadsafe(event.set)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._take():
            self.entered.set()
            assert self.release.wait(30), "gate never opened"
        response: httpx.Response = self.inner.handle_request(request)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._take():
            self._loop = asyncio.get_running_loop()
            self._async_release = asyncio.Event()
            if self.release.is_set():
                self._async_release.set()
            self.entered.set()
            await self._async_release.wait()
        response: httpx.Response = await self.inner.handle_async_request(request)
        return response


async def spin_until(predicate: Callable[[], bool], limit: int = 100_000) -> None:
    """Yield to the event loop until ``predicate()`` holds (no wall-clock sleeping)."""
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")
