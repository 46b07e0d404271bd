"""One client's tokens: which caller fetches, who waits, and where the answer goes.

:class:`ClientTokens` drives the shared :class:`~okta_guard.call.token_cache.TokenCache`
for one :class:`~okta_guard.TokenClient`: a fresh token is returned at once; otherwise
the cache elects one leader per slot, which fetches with its
:class:`~okta_guard.call.token_fetch.TokenFetcher` (through the fleet's store when there
is one) while every other thread and task waits, within the client's ``deadline``.  The
leader settles the outcome into the slot: a token, or a failure remembered for a while.
When Okta demands DPoP during a fetch, the token is bound to the client's proof key, so
it moves to a slot keyed by that key's thumbprint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from okta_guard._flight import running_loop
from okta_guard._sansio import Deadline
from okta_guard.call.dpop import DPoPSession
from okta_guard.call.policy import CachedToken, CacheKey, Fatal, RetrySettings, Success
from okta_guard.call.shared_cache import SharedTokens
from okta_guard.call.token_cache import Flight, Lead, TokenCache, TokenFlight, flight_outcome
from okta_guard.call.token_fetch import TokenFetcher
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken

__all__ = ["ClientTokens", "cache_key_of"]

logger = logging.getLogger("okta_guard.call.client")


def cache_key_of(base: CacheKey, session: DPoPSession) -> CacheKey:
    """The cache slot of a client now: ``base`` with the DPoP key's thumbprint once tokens
    may be bound to it.

    Always with ``dpop=True`` or an explicit key; with ``dpop=None`` only after the switch,
    so that clients of a Bearer app still share a cache slot.
    """
    jkt = session.thumbprint if session.active or session.explicit_key else None
    return dataclasses.replace(base, dpop_jkt=jkt)


class ClientTokens:
    """The token cache as one client sees it (sync and async callers share it).

    ``key`` is the client's current slot; it changes once, when the client switches
    to DPoP.
    """

    def __init__(
        self,
        base: CacheKey,
        *,
        cache: TokenCache,
        fetcher: TokenFetcher,
        shared: SharedTokens | None,
        dpop: DPoPSession,
        retry: RetrySettings,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        self._base = base
        self._dpop = dpop
        self.key = cache_key_of(base, dpop)
        self.cache = cache
        self.fetcher = fetcher
        self.shared = shared
        self.retry = retry
        self.deadline = deadline
        self.client_id = base.client_id
        self._clock = clock

    def __repr__(self) -> str:
        return f"ClientTokens(client_id={self.client_id!r})"

    def _key_now(self) -> CacheKey:
        return cache_key_of(self._base, self._dpop)

    def get(self, *, force_refresh: bool = False) -> ServiceToken:
        """Return a valid service token, fetching or refreshing it when needed.

        Raises :class:`~okta_guard.errors.TokenRequestError` when no token can be had.
        """
        if force_refresh:
            self.invalidate()
        else:
            cached = self.cache.fresh(self.key, self._clock())
            if cached is not None:
                return cached
        deadline = Deadline(self.deadline)
        while True:
            value = self.cache.decide(self.key, self._clock(), None)
            if isinstance(value, ServiceToken):
                return value
            if isinstance(value, Lead):
                return self._lead_sync(value.flight, deadline)
            loop = value.leader_loop
            if loop is not None and loop is running_loop():
                # A task of the loop this thread is running leads the fetch: blocking on it
                # would deadlock, so fetch on our own (outside the single flight).
                return self._lead_sync(Flight(None), deadline)
            if not value.wait(deadline.remaining()):
                raise self._waited_too_long()
            token = flight_outcome(value)
            if token is not None:
                return token

    async def get_async(self, *, force_refresh: bool = False) -> ServiceToken:
        """Async :meth:`get`; shares the cache and single flight with sync callers."""
        if force_refresh:
            self.invalidate()
        else:
            cached = self.cache.fresh(self.key, self._clock())
            if cached is not None:
                return cached
        loop = asyncio.get_running_loop()
        deadline = Deadline(self.deadline)
        while True:
            value = self.cache.decide(self.key, self._clock(), loop)
            if isinstance(value, ServiceToken):
                return value
            if isinstance(value, Lead):
                return await self._lead_async(value.flight, deadline)
            if not await value.wait_async(deadline.remaining()):
                raise self._waited_too_long()
            token = flight_outcome(value)
            if token is not None:
                return token

    @property
    def cached_token(self) -> ServiceToken | None:
        """The token in the slot right now, whatever its freshness (no request is made)."""
        entry = self.cache.peek(self.key)
        return entry.token if entry is not None else None

    def invalidate(self, token: ServiceToken | None = None) -> None:
        """Forget the slot's token (only if it is still ``token``), here and in the store."""
        if self.shared is not None:
            bad = token if token is not None else self.cached_token
            if bad is not None:
                self.shared.reject(bad)
            self.shared.forget(self.key, token)
        self.cache.invalidate(self.key, token)

    def _waited_too_long(self) -> TokenRequestError:
        return TokenRequestError(
            f"No service token for client {self.client_id!r} within the client's deadline "
            f"({self.deadline:g} s): another caller's token request is still running. "
            "Try again later.",
            error="temporarily_unavailable",
            status_code=503,
            retryable=True,
            reason="deadline",
        )

    def _lead_sync(self, flight: TokenFlight, deadline: Deadline) -> ServiceToken:
        key = self.key
        try:
            outcome = self.fetcher.fetch_sync(key, deadline)
        except BaseException:
            self.cache.abandon(key, flight)
            raise
        return self._settle(flight, outcome, key)

    async def _lead_async(self, flight: TokenFlight, deadline: Deadline) -> ServiceToken:
        key = self.key
        try:
            outcome = await self.fetcher.fetch_async(key, deadline)
        except BaseException:  # includes cancellation: waiters elect a new leader
            self.cache.abandon(key, flight)
            raise
        return self._settle(flight, outcome, key)

    def _settle(
        self,
        flight: TokenFlight,
        outcome: Success | Fatal | CachedToken,
        key: CacheKey,
    ) -> ServiceToken:
        now = self._clock()
        if self._dpop.active and key.dpop_jkt is None:
            # Switched to DPoP during this fetch: its token is bound to our key, so it
            # belongs in our own slot.  Waiters of the old slot decide again.
            logger.info(
                "Okta demands DPoP proofs for client %r; sending them from now on.",
                self.client_id,
            )
            old_key, old_flight = key, flight
            key = self._key_now()
            # Claim the new slot before waking the old one's waiters, so that they wait
            # for this token there instead of fetching another.
            decision = self.cache.decide(key, now, None)
            self.key = key
            self.cache.abandon(old_key, old_flight)
            if not isinstance(decision, Lead):
                if isinstance(outcome, Fatal):
                    raise outcome.error
                return outcome.token
            flight = decision.flight
        if isinstance(outcome, CachedToken):  # from the shared store, or fetched through it
            return self.cache.complete(key, flight, now, entry=outcome, settings=self.retry)
        if isinstance(outcome, Success):
            entry = self.fetcher.entry_for(outcome)
            logger.debug(
                "Got a service token for client %r (scopes %s, expires in %.0f s).",
                self.client_id,
                " ".join(sorted(outcome.token.scopes)),
                outcome.expires_at - now,
            )
            return self.cache.complete(key, flight, now, entry=entry, settings=self.retry)
        error = outcome.error
        logger.warning(
            "Token request for client %r failed (%s): %s",
            self.client_id,
            error.reason,
            error.description,
        )
        return self.cache.complete(
            key,
            flight,
            now,
            error=error,
            cooldown=outcome.cooldown,
            retry_after=outcome.retry_after,
            settings=self.retry,
        )
