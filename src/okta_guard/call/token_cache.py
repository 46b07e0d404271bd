"""The service-token cache shared by threads and asyncio tasks, with single-flight fetches.

One :class:`TokenCache` holds a slot per :class:`~okta_guard.call.policy.CacheKey`.
A caller that finds no usable token either *leads* a fetch (and later calls
:meth:`TokenCache.complete`) or *waits* for the fetch already in flight, so
concurrent callers for the same key cause exactly one token request.  The fetch in
flight is a :class:`~okta_guard._flight.Flight` (the one single-flight of the package):
threads and asyncio tasks wait for it alike, each with a deadline.

Only short critical sections run under the slot's lock; no I/O does.  While a
still-valid token is being refreshed, other callers keep getting the old one.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from dataclasses import dataclass, field

from okta_guard._flight import Flight
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

__all__ = ["Flight", "FlightResult", "Lead", "TokenCache", "TokenFlight", "flight_outcome"]

logger = logging.getLogger("okta_guard.call.client")


@dataclass(frozen=True)
class FlightResult:
    """What a token flight produced: a token, an error, or neither (abandoned)."""

    token: ServiceToken | None = None
    error: TokenRequestError | None = None


TokenFlight = Flight[FlightResult]
ABANDONED = FlightResult()


def flight_outcome(flight: TokenFlight) -> ServiceToken | None:
    """The token a finished flight fetched, or ``None`` if abandoned; raises its error."""
    result = flight.result
    if result is None:
        return None
    if result.error is not None:
        raise copy.copy(result.error)
    return result.token


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entry: CachedToken | None = None
    flight: TokenFlight | None = None
    failure: TokenRequestError | None = None
    failure_until: float = 0.0
    refresh_blocked_until: float = 0.0


@dataclass(frozen=True)
class Lead:
    """The caller must fetch the token and settle ``flight`` (see :meth:`TokenCache.decide`)."""

    flight: TokenFlight


Decision = ServiceToken | TokenFlight | Lead


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
            flight: TokenFlight = Flight(leader_loop)
            slot.flight = flight
            return Lead(flight)

    def complete(
        self,
        key: CacheKey,
        flight: TokenFlight,
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
            flight.finish(FlightResult(token=entry.token))
            return entry.token
        assert error is not None
        if fallback is not None:
            logger.warning(
                "Refreshing the service token for client %r failed (%s); using the current "
                "token until it expires.",
                key.client_id,
                error.reason,
            )
            flight.finish(FlightResult(token=fallback))
            return fallback
        flight.finish(FlightResult(error=error))
        raise error

    def abandon(self, key: CacheKey, flight: TokenFlight) -> None:
        """The leader was interrupted (cancelled): let waiters elect a new leader."""
        slot = self._slot(key)
        with slot.lock:
            if slot.flight is flight:
                slot.flight = None
        flight.finish(ABANDONED)

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
