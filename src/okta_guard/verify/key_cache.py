"""The JWKS key cache: thin sync and async drivers around :mod:`okta_guard.verify.key_policy`.

One :class:`KeyCache` serves both worlds.  Its state lives in a
:class:`~okta_guard.verify.key_policy.KeyCachePolicy` guarded by a
:class:`threading.Lock` that is never held during I/O.  A fetch in flight is a
:class:`_Flight`: sync callers wait on its :class:`threading.Event`, async
callers await a future that the flight resolves through
``loop.call_soon_threadsafe`` - so an async caller never blocks its event loop
while a sync caller's fetch runs, and a hundred concurrent callers of either
kind share a single request.

An async fetch runs as its own task, so a caller that is cancelled (a client
hung up) does not cancel the fetch others are waiting for.  A sync caller that
notices the key set is due for a refresh does it inline; an async caller starts
it in the background and carries on with the current keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable, Generator

import httpx

from okta_guard.errors import IssuerUnavailableError
from okta_guard.verify.discovery import HttpRequest, HttpResponse
from okta_guard.verify.fetch import MAX_RESPONSE_BYTES, drive, get_async, get_sync
from okta_guard.verify.jws import reject
from okta_guard.verify.key_policy import (
    Fetch,
    FetchFailure,
    FetchOutcome,
    KeyCachePolicy,
    KeysFetched,
    Lookup,
    PolicyConfig,
    Reject,
    Unavailable,
    Use,
    key_fetch_flow,
)
from okta_guard.verify.keyset import KeyEntry

__all__ = ["MAX_JWKS_BYTES", "KeyCache"]

logger = logging.getLogger("okta_guard.verify.key_cache")

#: Largest JWKS (or metadata) response accepted, in bytes.
MAX_JWKS_BYTES = MAX_RESPONSE_BYTES


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Flight:
    """One fetch in flight, awaited by any mix of sync and async callers."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.thread = threading.get_ident()
        self.done = threading.Event()
        self.outcome: FetchOutcome | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def async_waiter(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.done.is_set():
                future.set_result(None)
            else:
                self._waiters.append((loop, future))
        return future

    def finish(self, outcome: FetchOutcome) -> None:
        with self._lock:
            self.outcome = outcome
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)


class KeyCache:
    """The signing keys of one issuer: discovered, fetched, cached and refreshed.

    ``get_key(kid)`` / ``await get_key_async(kid)`` return the
    :class:`~okta_guard.verify.keyset.KeyEntry` for a kid, fetching when the policy
    says so; they raise :class:`~okta_guard.errors.InvalidTokenError`
    (``unknown_kid``, ``ambiguous_kid``, ``unusable_key``) or
    :class:`~okta_guard.errors.IssuerUnavailableError`.  ``on_keys_removed`` is
    called with the kids whose key disappeared or changed after a refresh.
    """

    def __init__(
        self,
        issuer: str,
        *,
        jwks_uri: str | None = None,
        algorithms: frozenset[str] = frozenset({"RS256"}),
        config: PolicyConfig | None = None,
        clock: Callable[[], float],
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        max_response_bytes: int = MAX_JWKS_BYTES,
        on_keys_removed: Callable[[frozenset[str]], None] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.issuer = issuer
        self.algorithms = algorithms
        self.policy = KeyCachePolicy(config, rand=rand)
        self._jwks_uri = jwks_uri
        self._clock = clock
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._owned_client: httpx.Client | None = None
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._on_keys_removed = on_keys_removed
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def jwks_uri(self) -> str | None:
        """The key set URL in use (``None`` until discovery has run)."""
        return self._jwks_uri

    def current(self, kid: str, now: float) -> KeyEntry | None:
        """The cached entry for ``kid`` if the key set is usable and no refresh is due now.

        No fetch, no counting: this is the verified-token cache's cheap check.
        """
        policy = self.policy
        if not policy.usable(now) or policy.refresh_due(now):
            return None  # the caller takes the full path, which refreshes
        return policy.keys.get(kid)

    # -- lookups -----------------------------------------------------------------------

    def _decide(
        self, kid: str, allow_fetch: bool, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[Lookup, _Flight | None]:
        now = self._clock()
        with self._lock:
            decision = self.policy.lookup(now, kid, allow_fetch=allow_fetch)
            flight: _Flight | None = None
            if (isinstance(decision, Fetch) and decision.start) or (
                isinstance(decision, Use) and decision.refresh
            ):
                flight = self._flight = _Flight(loop)
            elif isinstance(decision, Fetch):
                flight = self._flight
        return decision, flight

    @staticmethod
    def _fail(decision: Reject | Unavailable) -> Exception:
        if isinstance(decision, Reject):
            return reject(decision.reason)
        return IssuerUnavailableError(
            "The authorization server's signing keys cannot be fetched; try again later.",
            retry_after=decision.retry_after,
        )

    def fresh(self, kid: str, now: float) -> KeyEntry | None:
        """The entry for a known ``kid`` while the key set is fresh and no refresh is due.

        The lock-free fast path: ``None`` means "ask :meth:`get_key`".
        """
        policy = self.policy
        if now < policy.refresh_at and now <= policy.expires_at:
            return policy.keys.get(kid)
        return None

    def get_key(self, kid: str) -> KeyEntry:
        """Return the key for ``kid``, fetching (or waiting for a fetch) when needed."""
        entry = self.fresh(kid, self._clock())
        if entry is not None:
            return entry
        allow_fetch = True
        while True:
            decision, flight = self._decide(kid, allow_fetch, None)
            if isinstance(decision, Use):
                if flight is None:
                    return decision.entry
                self._run_sync(flight)
            elif isinstance(decision, Fetch):
                if decision.start and flight is not None:
                    self._run_sync(flight)
                elif flight is not None:
                    self._wait_sync(flight)
            else:
                raise self._fail(decision)
            allow_fetch = False

    async def get_key_async(self, kid: str) -> KeyEntry:
        """Return the key for ``kid`` without blocking the event loop."""
        entry = self.fresh(kid, self._clock())
        if entry is not None:
            return entry
        loop = asyncio.get_running_loop()
        allow_fetch = True
        while True:
            decision, flight = self._decide(kid, allow_fetch, loop)
            if isinstance(decision, Use):
                if flight is not None:
                    self._spawn(flight)
                return decision.entry
            if isinstance(decision, Fetch):
                if flight is not None:
                    waiter = flight.async_waiter()
                    if decision.start:
                        self._spawn(flight)
                    await waiter
            else:
                raise self._fail(decision)
            allow_fetch = False

    def _wait_sync(self, flight: _Flight) -> None:
        if flight.loop is not None and flight.thread == threading.get_ident():
            # The fetch runs on an event loop in this very thread: waiting would deadlock.
            raise IssuerUnavailableError(
                "Use verify_async() inside an event loop while keys are being fetched.",
                retry_after=1.0,
                reason="fetch_in_progress",
            )
        flight.done.wait(self.policy.config.flight_timeout)

    # -- prewarming ----------------------------------------------------------------------

    def _begin_prewarm(self, loop: asyncio.AbstractEventLoop | None) -> tuple[_Flight, bool]:
        now = self._clock()
        with self._lock:
            started = self.policy.begin_refresh(now)
            if not started:
                if self._flight is not None:
                    return self._flight, False  # join the fetch in flight
                self.policy.begin_refresh(now, force=True)  # its driver is gone
            self._flight = _Flight(loop)
            return self._flight, True

    def _check_prewarmed(self, flight: _Flight) -> None:
        if not isinstance(flight.outcome, KeysFetched):
            now = self._clock()
            raise IssuerUnavailableError(
                "The authorization server's signing keys could not be fetched at start-up.",
                retry_after=self.policy.retry_after(now),
            )

    def prewarm(self) -> None:
        """Fetch the key set now; raise :class:`IssuerUnavailableError` if that fails."""
        flight, mine = self._begin_prewarm(None)
        if mine:
            self._run_sync(flight)
        else:
            self._wait_sync(flight)
        self._check_prewarmed(flight)

    async def prewarm_async(self) -> None:
        """Fetch the key set now without blocking the loop; raise on failure."""
        flight, mine = self._begin_prewarm(asyncio.get_running_loop())
        waiter = flight.async_waiter()
        if mine:
            self._spawn(flight)
        await waiter
        self._check_prewarmed(flight)

    # -- fetching ------------------------------------------------------------------------

    def _flow(self) -> Generator[HttpRequest, HttpResponse, FetchOutcome]:
        return key_fetch_flow(
            self.issuer,
            self._jwks_uri,
            now=self._clock(),
            config=self.policy.config,
            algorithms=self.algorithms,
            previous=self.policy.keys,
        )

    def _complete(self, flight: _Flight, outcome: FetchOutcome) -> None:
        now = self._clock()
        removed: frozenset[str] = frozenset()
        with self._lock:
            if isinstance(outcome, KeysFetched):
                removed = self.policy.fetch_succeeded(now, outcome.content, outcome.ttl)
                if outcome.jwks_uri_final:
                    self._jwks_uri = outcome.jwks_uri
                delay = 0.0
            else:
                delay = self.policy.fetch_failed(now, outcome.retry_after)
            if self._flight is flight:
                self._flight = None
        for note in outcome.notes:
            logger.info("okta-guard: %s (issuer %s)", note, self.issuer)
        if isinstance(outcome, FetchFailure):
            logger.warning(
                "okta-guard: refreshing the signing keys of %s failed: %s; %s; next try in %.0f s",
                self.issuer,
                outcome.reason,
                "serving the last good keys" if self.policy.usable(now) else "no usable keys",
                delay,
            )
        flight.finish(outcome)
        if removed and self._on_keys_removed is not None:
            self._on_keys_removed(removed)

    def _run_sync(self, flight: _Flight) -> None:
        outcome: FetchOutcome = FetchFailure("the fetch was interrupted")
        try:
            outcome = self._fetch_sync()
        finally:
            self._complete(flight, outcome)

    def _fetch_sync(self) -> FetchOutcome:
        return drive(self._flow(), self._get_sync)

    def _spawn(self, flight: _Flight) -> None:
        task = asyncio.get_running_loop().create_task(self._run_async(flight))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_async(self, flight: _Flight) -> None:
        outcome: FetchOutcome = FetchFailure("the fetch was interrupted")
        try:
            if self._async_http_client is None and self._http_client is not None:
                # Only a sync client was given: honour it, off the event loop.
                loop = asyncio.get_running_loop()
                outcome = await loop.run_in_executor(None, self._fetch_sync)
            else:
                outcome = await self._fetch_async()
        finally:
            self._complete(flight, outcome)

    async def _fetch_async(self) -> FetchOutcome:
        client = self._async_http_client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient(timeout=self._timeout)
        try:
            flow = self._flow()
            try:
                request = next(flow)
                while True:
                    request = flow.send(await get_async(client, request, self._max_bytes))
            except StopIteration as stop:
                result: FetchOutcome = stop.value
                return result
        finally:
            if owned:
                await client.aclose()

    def _get_sync(self, request: HttpRequest) -> HttpResponse:
        return get_sync(self._sync_client(), request, self._max_bytes)

    def _sync_client(self) -> httpx.Client:
        if self._http_client is not None:
            return self._http_client
        with self._lock:
            if self._owned_client is None:
                self._owned_client = httpx.Client(timeout=self._timeout)
            return self._owned_client

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client this cache created itself (injected clients stay open)."""
        with self._lock:
            client, self._owned_client = self._owned_client, None
        if client is not None:
            client.close()

    async def drain(self) -> None:
        """Wait until the background fetches started on this event loop have finished."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._tasks if task.get_loop() is loop and not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel background fetches on this loop and close owned clients."""
        loop = asyncio.get_running_loop()
        pending = [task for task in self._tasks if task.get_loop() is loop and not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self.close()
