"""The JWKS key cache: thin sync and async drivers around :mod:`okta_guard.verify.key_policy`.

One :class:`KeyCache` serves both worlds.  Its state lives in a
:class:`~okta_guard.verify.key_policy.KeyCachePolicy` guarded by a
:class:`threading.Lock` that is never held during I/O.  A fetch in flight is a
:class:`~okta_guard._flight.Flight`, awaited by sync and async callers alike, so a
hundred concurrent callers of either kind share a single request.  The flows run on
the shared drivers of :mod:`okta_guard._sansio` with the httpx shells of
:mod:`okta_guard._http`.

Time is bounded: a fetch (discovery included) ends by ``PolicyConfig.deadline``
seconds, and every caller waiting for one - a lookup, a prewarm, a refresh -
gives up at the same bound with :class:`~okta_guard.errors.IssuerUnavailableError`.

An async fetch runs as its own task, so a caller that is cancelled (a client
hung up) does not cancel the fetch others are waiting for.  A sync caller that
notices the key set is due for a refresh does it inline; an async caller starts
it in the background and carries on with the current keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import threading
from collections.abc import Callable, Generator

import httpx

from okta_guard._flight import Flight
from okta_guard._http import DEFAULT_MAX_BYTES, send_async, send_sync
from okta_guard._sansio import Deadline, HttpRequest, HttpResponse, drive, drive_async
from okta_guard.errors import IssuerUnavailableError
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

#: Largest JWKS (or metadata) response accepted, in bytes (decoded).
MAX_JWKS_BYTES = DEFAULT_MAX_BYTES

_Flight = Flight[FetchOutcome]


def _unavailable(message: str, retry_after: float, reason: str) -> IssuerUnavailableError:
    return IssuerUnavailableError(message, retry_after=retry_after, reason=reason)


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
        #: The latest fetch failure, until a fetch succeeds (for diagnostics).
        self.last_failure: FetchFailure | None = None
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
                flight = self._flight = Flight(loop)
            elif isinstance(decision, Fetch):
                flight = self._flight
        return decision, flight

    def _fail(self, decision: Reject | Unavailable) -> Exception:
        if isinstance(decision, Reject):
            return reject(decision.reason)
        failure = self.last_failure
        misconfigured = failure is not None and failure.misconfigured
        return IssuerUnavailableError(
            "The authorization server's signing keys cannot be fetched; try again later.",
            retry_after=decision.retry_after,
            reason="issuer_misconfigured" if misconfigured else None,
            diagnosis=failure.reason if failure is not None and misconfigured else None,
        )

    def fresh(self, kid: str, now: float) -> KeyEntry | None:
        """The entry for a known ``kid`` while the key set is fresh and no refresh is due.

        The lock-free fast path: ``None`` means "ask :meth:`get_key`".  Fresh means: before
        the key's lease ends (the key set's refresh time; see
        :class:`~okta_guard.verify.keyset.KeyLease`).
        """
        entry = self.policy.keys.get(kid)
        if entry is not None and now < entry.lease.until:
            return entry
        return None

    def _deadline(self) -> Deadline:
        return Deadline(self.policy.config.deadline)

    def get_key(self, kid: str) -> KeyEntry:
        """Return the key for ``kid``, fetching (or waiting for a fetch) when needed."""
        entry = self.fresh(kid, self._clock())
        if entry is not None:
            return entry
        deadline = self._deadline()
        allow_fetch = True
        while True:
            decision, flight = self._decide(kid, allow_fetch, None)
            if isinstance(decision, Use):
                if flight is None:
                    return decision.entry
                self._run_sync(flight, deadline)
            elif isinstance(decision, Fetch):
                if decision.start and flight is not None:
                    self._run_sync(flight, deadline)
                elif flight is not None:
                    self._wait_sync(flight, deadline)
            else:
                raise self._fail(decision)
            allow_fetch = False

    async def get_key_async(self, kid: str) -> KeyEntry:
        """Return the key for ``kid`` without blocking the event loop."""
        entry = self.fresh(kid, self._clock())
        if entry is not None:
            return entry
        loop = asyncio.get_running_loop()
        deadline = self._deadline()
        allow_fetch = True
        while True:
            decision, flight = self._decide(kid, allow_fetch, loop)
            if isinstance(decision, Use):
                if flight is not None:
                    self._spawn(flight)
                return decision.entry
            if isinstance(decision, Fetch):
                if flight is not None:
                    if decision.start:
                        self._spawn(flight)
                    await self._wait_async(flight, deadline)
            else:
                raise self._fail(decision)
            allow_fetch = False

    def _timed_out(self) -> IssuerUnavailableError:
        return _unavailable(
            f"The authorization server did not deliver its signing keys within "
            f"{self.policy.config.deadline:g} s; try again later.",
            retry_after=self.policy.retry_after(self._clock()),
            reason="deadline",
        )

    def _wait_sync(self, flight: _Flight, deadline: Deadline) -> None:
        if flight.led_from_this_thread():
            # The fetch runs on an event loop in this very thread: waiting would deadlock.
            raise _unavailable(
                "Use verify_async() inside an event loop while keys are being fetched.",
                retry_after=1.0,
                reason="fetch_in_progress",
            )
        if not flight.wait(deadline.remaining()):
            raise self._timed_out()

    async def _wait_async(self, flight: _Flight, deadline: Deadline) -> None:
        if not await flight.wait_async(deadline.remaining()):
            raise self._timed_out()

    # -- prewarming ----------------------------------------------------------------------

    def _begin_prewarm(self, loop: asyncio.AbstractEventLoop | None) -> tuple[_Flight, bool]:
        now = self._clock()
        with self._lock:
            started = self.policy.begin_refresh(now)
            if not started:
                if self._flight is not None:
                    return self._flight, False  # join the fetch in flight
                self.policy.begin_refresh(now, force=True)  # its driver is gone
            flight: _Flight = Flight(loop)
            self._flight = flight
            return flight, True

    def _check_prewarmed(self, flight: _Flight) -> None:
        result = flight.result
        if not isinstance(result, KeysFetched):
            now = self._clock()
            misconfigured = isinstance(result, FetchFailure) and result.misconfigured
            raise IssuerUnavailableError(
                "The authorization server's signing keys could not be fetched at start-up.",
                retry_after=self.policy.retry_after(now),
                reason="issuer_misconfigured" if misconfigured else None,
                diagnosis=result.reason
                if isinstance(result, FetchFailure) and misconfigured
                else None,
            )

    def prewarm(self) -> None:
        """Fetch the key set now; raise :class:`IssuerUnavailableError` if that fails."""
        deadline = self._deadline()
        flight, mine = self._begin_prewarm(None)
        if mine:
            self._run_sync(flight, deadline)
        else:
            self._wait_sync(flight, deadline)
        self._check_prewarmed(flight)

    async def prewarm_async(self) -> None:
        """Fetch the key set now without blocking the loop; raise on failure."""
        deadline = self._deadline()
        flight, mine = self._begin_prewarm(asyncio.get_running_loop())
        if mine:
            self._spawn(flight)
        await self._wait_async(flight, deadline)
        self._check_prewarmed(flight)

    # -- fetching ------------------------------------------------------------------------

    def _flow(self) -> Generator[HttpRequest, HttpResponse | None, FetchOutcome]:
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
            self.last_failure = outcome
            logger.log(
                logging.ERROR if outcome.misconfigured else logging.WARNING,
                "okta-guard: refreshing the signing keys of %s failed: %s; %s; next try in %.0f s",
                self.issuer,
                outcome.reason,
                "serving the last good keys" if self.policy.usable(now) else "no usable keys",
                delay,
            )
        else:
            self.last_failure = None
            if outcome.alarm:
                logger.error("okta-guard: signing keys of %s: %s", self.issuer, outcome.alarm)
        flight.finish(outcome)
        if removed and self._on_keys_removed is not None:
            self._on_keys_removed(removed)

    def _run_sync(self, flight: _Flight, deadline: Deadline | None = None) -> None:
        outcome: FetchOutcome = FetchFailure("the fetch was interrupted")
        try:
            outcome = self._fetch_sync(deadline or self._deadline())
        finally:
            self._complete(flight, outcome)

    def _fetch_sync(self, deadline: Deadline) -> FetchOutcome:
        return drive(self._flow(), self._get_sync, deadline=deadline)

    def _spawn(self, flight: _Flight) -> None:
        task = asyncio.get_running_loop().create_task(self._run_async(flight))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_async(self, flight: _Flight) -> None:
        outcome: FetchOutcome = FetchFailure("the fetch was interrupted")
        deadline = self._deadline()
        try:
            if self._async_http_client is None and self._http_client is not None:
                # Only a sync client was given: honour it, off the event loop.
                loop = asyncio.get_running_loop()
                outcome = await loop.run_in_executor(None, self._fetch_sync, deadline)
            else:
                outcome = await self._fetch_async(deadline)
        finally:
            self._complete(flight, outcome)

    async def _fetch_async(self, deadline: Deadline) -> FetchOutcome:
        client = self._async_http_client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient(timeout=self._timeout)

        async def send(request: HttpRequest, deadline: Deadline) -> HttpResponse:
            return await send_async(client, self._capped(request), deadline)

        try:
            return await drive_async(self._flow(), send, deadline=deadline)
        finally:
            if owned:
                await client.aclose()

    def _capped(self, request: HttpRequest) -> HttpRequest:
        return dataclasses.replace(request, max_bytes=self._max_bytes)

    def _get_sync(self, request: HttpRequest, deadline: Deadline) -> HttpResponse:
        return send_sync(self._sync_client(), self._capped(request), deadline)

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
