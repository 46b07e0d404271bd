"""The service-token cache shared by threads and asyncio tasks, with single-flight fetches.

One :class:`TokenCache` holds a slot per :class:`~okta_guard.call.policy.CacheKey`.
A caller that finds no usable token either *leads* a fetch (and later calls
:meth:`TokenCache.complete`) or *waits* for the fetch already in flight, so
concurrent callers for the same key cause exactly one token request:

* threads wait on a :class:`threading.Event`;
* asyncio tasks await a future of their own loop, resolved thread-safely with
  ``call_soon_threadsafe`` - a task never blocks its event loop while a thread
  fetches, and a thread can wait for a fetch led by a task on another loop.

Only short critical sections run under the slot's lock; no I/O does.  While a
still-valid token is being refreshed, other callers keep getting the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import threading
from dataclasses import dataclass, field

from okta_guard.call.policy import (
    MIN_VALIDITY,
    CachedToken,
    CacheKey,
    Freshness,
    RetrySettings,
    freshness,
)
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken

__all__ = ["Flight", "Lead", "TokenCache"]

logger = logging.getLogger("okta_guard.call.client")


class Flight:
    """One token fetch in progress; threads and tasks wait for its outcome."""

    def __init__(self, leader_loop: asyncio.AbstractEventLoop | None) -> None:
        self.leader_loop = leader_loop
        self.token: ServiceToken | None = None
        self.error: TokenRequestError | None = None
        self.abandoned = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}

    def finish(
        self,
        token: ServiceToken | None = None,
        error: TokenRequestError | None = None,
        *,
        abandoned: bool = False,
    ) -> None:
        """Publish the outcome and wake every waiting thread and task."""
        with self._lock:
            self.token, self.error, self.abandoned = token, error, abandoned
            self._done.set()
            waiters, self._waiters = self._waiters, {}
        for loop, futures in waiters.items():
            # A closed loop raises RuntimeError: nobody is left there to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve_all, futures)

    def wait(self) -> None:
        """Block this thread until the flight finishes."""
        self._done.wait()

    async def wait_async(self) -> None:
        """Wait, without blocking the event loop, until the flight finishes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return
            self._waiters.setdefault(loop, []).append(future)
        await future

    def outcome(self) -> ServiceToken | None:
        """The fetched token, or ``None`` if the flight was abandoned; raises its error."""
        if self.error is not None:
            raise copy.copy(self.error)
        return self.token


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entry: CachedToken | None = None
    flight: Flight | None = None
    failure: TokenRequestError | None = None
    failure_until: float = 0.0
    refresh_blocked_until: float = 0.0


@dataclass(frozen=True)
class Lead:
    """The caller must fetch the token and settle ``flight`` (see :meth:`TokenCache.decide`)."""

    flight: Flight


Decision = ServiceToken | Flight | Lead


class TokenCache:
    """Service tokens by :class:`CacheKey`, shared by sync and async callers.

    Share one instance between :class:`~okta_guard.TokenClient` objects (``cache=``)
    to share tokens between them; by default each client has its own.
    """

    def __init__(self) -> None:
        self._slots: dict[CacheKey, _Slot] = {}
        self._lock = threading.Lock()

    def _slot(self, key: CacheKey) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            with self._lock:
                slot = self._slots.setdefault(key, _Slot())
        return slot

    def fresh(self, key: CacheKey, now: float) -> ServiceToken | None:
        """The cached token if it is fresh at ``now`` (lock-free fast path), else ``None``."""
        slot = self._slots.get(key)
        entry = slot.entry if slot is not None else None
        if entry is None or now >= entry.refresh_at or now >= entry.expires_at - MIN_VALIDITY:
            return None
        return entry.token

    def decide(
        self, key: CacheKey, now: float, leader_loop: asyncio.AbstractEventLoop | None
    ) -> Decision:
        """Return the token to use, the :class:`Flight` to wait for, or a :class:`Lead`.

        Raises the cached error while a fatal failure's cooldown lasts and no
        valid token is cached.
        """
        slot = self._slot(key)
        with slot.lock:
            entry = slot.entry
            state = freshness(entry, now, refresh_blocked_until=slot.refresh_blocked_until)
            if entry is not None and state is not Freshness.UNUSABLE:
                if state is Freshness.FRESH or slot.flight is not None:
                    return entry.token
            elif slot.flight is not None:
                return slot.flight
            elif slot.failure is not None and now < slot.failure_until:
                raise copy.copy(slot.failure)
            flight = Flight(leader_loop)
            slot.flight = flight
            return Lead(flight)

    def complete(
        self,
        key: CacheKey,
        flight: Flight,
        now: float,
        *,
        entry: CachedToken | None = None,
        error: TokenRequestError | None = None,
        cooldown: bool = False,
        retry_after: float | None = None,
        settings: RetrySettings,
    ) -> ServiceToken:
        """Record a led fetch's outcome, wake its waiters and return the token to use.

        On failure the still-valid old token (if any) is returned and kept, and
        refreshing pauses for ``settings.refresh_retry`` seconds; otherwise the
        error is raised.  A fatal failure (``cooldown``) is remembered for
        ``settings.failure_cooldown`` seconds, a rate-limited one for the
        server's ``retry_after``, so that callers fail fast meanwhile.
        """
        slot = self._slot(key)
        fallback: ServiceToken | None = None
        hold = settings.failure_cooldown if cooldown else 0.0
        if retry_after is not None:
            hold = max(hold, retry_after)
        with slot.lock:
            if slot.flight is flight:
                slot.flight = None
            if entry is not None:
                slot.entry = entry
                slot.failure = None
                slot.failure_until = slot.refresh_blocked_until = 0.0
            elif error is not None:
                if hold > 0:
                    slot.failure, slot.failure_until = error, now + hold
                old = slot.entry
                if old is not None and freshness(old, now) is not Freshness.UNUSABLE:
                    fallback = old.token
                    slot.refresh_blocked_until = now + max(hold, settings.refresh_retry)
        if entry is not None:
            flight.finish(token=entry.token)
            return entry.token
        assert error is not None
        if fallback is not None:
            logger.warning(
                "Refreshing the service token for client %r failed (%s); using the current "
                "token until it expires.",
                key.client_id,
                error.reason,
            )
            flight.finish(token=fallback)
            return fallback
        flight.finish(error=error)
        raise error

    def abandon(self, key: CacheKey, flight: Flight) -> None:
        """The leader was interrupted (cancelled): let waiters elect a new leader."""
        slot = self._slot(key)
        with slot.lock:
            if slot.flight is flight:
                slot.flight = None
        flight.finish(abandoned=True)

    def invalidate(self, key: CacheKey, token: ServiceToken | None = None) -> None:
        """Drop the cached token (only if it is ``token``, when given) and any failure."""
        slot = self._slot(key)
        with slot.lock:
            current = slot.entry
            if current is None or token is None or current.token.access_token == token.access_token:
                slot.entry = None
                slot.refresh_blocked_until = 0.0
            if token is None:
                slot.failure = None
                slot.failure_until = 0.0

    def peek(self, key: CacheKey) -> CachedToken | None:
        """The cached entry for ``key``, if any (for tests and diagnostics)."""
        slot = self._slots.get(key)
        return slot.entry if slot is not None else None

    def clear(self) -> None:
        """Forget every token and failure (fetches in flight still finish)."""
        with self._lock:
            self._slots.clear()
