"""The revocation check: introspection answers cached per token, one request in flight.

:class:`RevocationCheck` wraps an :class:`~okta_guard.verify.introspection.Introspector`
for one verifier.  For a token that passed local verification it:

1. looks in the store for a recent answer (in a shared store: keyed by a SHA-256 of
   issuer and token, so no token is ever stored, and sealed; answers live at most
   ``cache_ttl`` seconds, default 30, and never beyond the token's ``exp``; an
   inactive answer is final and kept until ``exp``);
2. otherwise asks the authorization server, one request per token at a time
   (threads and asyncio tasks asking for the same token wait for the leader);
3. decides with :func:`~okta_guard.verify.introspection.check_answer`.

When the server cannot answer, the check fails closed with 503
(:class:`~okta_guard.errors.IssuerUnavailableError`) unless ``fallback`` seconds
are allowed: then the last *active* answer is used while it is younger than
``cache_ttl + fallback`` (and the token unexpired).  A 429 stops every request to
the server until the time its ``X-Rate-Limit-Reset`` / ``Retry-After`` names.

The store is pluggable (``get``/``set`` and their ``_async`` forms, like the shared
stores of :mod:`okta_guard.store`); what it sees (sealed entries bound to their key),
and the default in-process LRU, are :mod:`okta_guard.verify.answer_store`'s.  A store
that raises, or an entry that does not open, is ignored (the server is asked).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable

from okta_guard import telemetry
from okta_guard._flight import Flight, running_loop
from okta_guard.errors import ConfigurationError, IssuerUnavailableError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.verify.answer_store import (
    AnswerSlots,
    AnswerStore,
    MemoryAnswerStore,
    StoredAnswer,
)
from okta_guard.verify.introspection import Introspector, SealingIntrospector, check_answer

__all__ = ["AnswerStore", "MemoryAnswerStore", "RevocationCheck", "RevocationStats"]

logger = logging.getLogger("okta_guard.verify.revocation")

#: How far in the future a stored answer may be dated (clock skew between the hosts
#: sharing a store); an answer dated later is ignored, so neither a fast clock nor a
#: tampered entry can stretch ``cache_ttl`` or ``fallback``.
MAX_CLOCK_SKEW = 5.0


class RevocationStats:
    """Counters of one :class:`RevocationCheck` (plain integers, read for telemetry)."""

    __slots__ = ("cache_hits", "calls", "failures", "fallbacks", "rate_limited", "refused")

    def __init__(self) -> None:
        self.calls = 0
        self.cache_hits = 0
        self.failures = 0
        self.rate_limited = 0
        self.fallbacks = 0
        self.refused = 0


_Outcome = tuple[StoredAnswer | None, OktaGuardError | None]


class RevocationCheck:
    """Introspection for one issuer: cache, single flight, outage and 429 policy.

    Args:
        introspector: the client that asks the authorization server.
        issuer: the verifier's issuer (answers are keyed per issuer and token).
        cache_ttl: how long an active answer is reused (seconds; ``0`` asks every time).
        fallback: how many seconds past ``cache_ttl`` the last active answer may still
            be used while the server cannot be reached (``0``: answer 503 instead).
        store: where answers are kept (default: a :class:`MemoryAnswerStore`); a shared
            store needs an introspector that seals its answers
            (:class:`~okta_guard.verify.introspection.SealingIntrospector`).
        max_wait: how long a caller waits for another caller's request to the server.
        store_timeout: how long an async caller waits for the store (a read or a write)
            before going on without it (seconds).  Sync callers rely on the store's own
            timeouts (:class:`okta_guard.redis.RedisStore` sets short socket timeouts).
        clock: epoch seconds.
    """

    def __init__(
        self,
        introspector: Introspector,
        issuer: str,
        *,
        cache_ttl: float = 30.0,
        fallback: float = 0.0,
        store: AnswerStore | None = None,
        max_wait: float = 30.0,
        store_timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(introspector, "introspect", None)) or not callable(
            getattr(introspector, "introspect_async", None)
        ):
            raise ConfigurationError(
                "introspection= needs an introspection client with introspect() and "
                "introspect_async(), e.g. okta_guard.IntrospectionClient(issuer, client_id, "
                "secret)."
            )
        other = getattr(introspector, "issuer", issuer)
        if other != issuer:
            raise ConfigurationError(
                f"The introspection client asks {other!r} but the verifier checks tokens of "
                f"{issuer!r}: give each verifier a client of its own issuer."
            )
        self.introspector = introspector
        self.issuer = issuer
        self.cache_ttl = cache_ttl
        self.fallback = fallback
        self.store: AnswerStore = store if store is not None else MemoryAnswerStore(clock=clock)
        sealer = (
            introspector.answer_sealer if isinstance(introspector, SealingIntrospector) else None
        )
        self._slots = AnswerSlots(self.store, issuer, timeout=store_timeout, sealer=sealer)
        self.max_wait = max_wait
        self.store_timeout = store_timeout
        self.stats = RevocationStats()
        self._clock = clock
        self._flights: dict[str, Flight[_Outcome]] = {}
        self._lock = threading.Lock()
        self._blocked_until = 0.0

    def key(self, token: str) -> str:
        """The shared-store key of ``token`` (a hash: the token itself is never stored there)."""
        return self._slots.key(token)

    # -- decisions (no I/O) ----------------------------------------------------------------

    def _usable(self, entry: StoredAnswer | None, now: float, exp: float) -> bool:
        if entry is None or now >= exp:
            return False
        age = now - entry.checked_at
        if age < -MAX_CLOCK_SKEW:
            return False
        return not entry.answer.active or age < self.cache_ttl

    def _decide(self, entry: StoredAnswer, token: AccessToken) -> AccessToken:
        try:
            return check_answer(entry.answer, token)
        except OktaGuardError:
            self.stats.refused += 1
            raise

    def _ttl(self, entry: StoredAnswer, now: float, exp: float) -> float:
        life = exp - now
        if not entry.answer.active:
            return max(1.0, life)
        return max(1.0, min(life, self.cache_ttl + self.fallback))

    def _blocked(self, now: float) -> IssuerUnavailableError | None:
        if now < self._blocked_until:
            return IssuerUnavailableError(
                "The authorization server rate-limited introspection; try again later.",
                retry_after=self._blocked_until - now,
                reason="introspection_rate_limited",
            )
        return None

    def _failed(self, exc: BaseException, now: float) -> IssuerUnavailableError:
        self.stats.failures += 1
        if isinstance(exc, IssuerUnavailableError):
            if exc.reason == "introspection_rate_limited":
                self.stats.rate_limited += 1
                telemetry.record(
                    "okta_guard.rate_limit.waits", {"okta_guard.call": "introspection"}
                )
                self._blocked_until = max(self._blocked_until, now + exc.retry_after)
            logger.warning("okta-guard: introspection at %s failed (%s)", self.issuer, exc.reason)
            return exc
        logger.error(
            "okta-guard: unexpected %s while introspecting at %s", type(exc).__name__, self.issuer
        )
        return IssuerUnavailableError(
            "The authorization server cannot check the access token now; try again later.",
            reason="introspection_unavailable",
        )

    def _fallback(
        self, last: StoredAnswer | None, now: float, exp: float, error: IssuerUnavailableError
    ) -> StoredAnswer:
        if (
            self.fallback > 0
            and last is not None
            and last.answer.active
            and now < exp
            and -MAX_CLOCK_SKEW <= now - last.checked_at <= self.cache_ttl + self.fallback
        ):
            self.stats.fallbacks += 1
            logger.warning(
                "okta-guard: introspection at %s unavailable (%s); using an answer %.0f s old",
                self.issuer,
                error.reason,
                now - last.checked_at,
            )
            return last
        raise error

    def _join(
        self, key: str, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[Flight[_Outcome], bool]:
        """The flight for ``key`` and whether the caller leads it."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = Flight(loop)
            self._flights[key] = flight
            return flight, True

    def _land(self, key: str, flight: Flight[_Outcome], outcome: _Outcome) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.finish(outcome)

    def _follow(self, flight: Flight[_Outcome], finished: bool, token: AccessToken) -> AccessToken:
        """The answer for a caller that waited for another caller's request."""
        entry, error = flight.result if finished and flight.result else (None, None)
        if entry is not None:
            return self._decide(entry, token)
        if error is not None:
            raise copy.copy(error)
        raise _abandoned()

    # -- sync ------------------------------------------------------------------------------

    def check(self, token: str, access_token: AccessToken) -> AccessToken:
        """Refuse ``access_token`` (verified from ``token``) if the server says it is not
        active; raise ``IssuerUnavailableError`` when no answer can be had."""
        exp = access_token.expires_at.timestamp()
        key = self._slots.slot(token)
        last = self._slots.load(key)
        now = self._clock()
        if last is not None and self._usable(last, now, exp):
            self.stats.cache_hits += 1
            return self._decide(last, access_token)
        flight, lead = self._join(key, running_loop())
        entry: StoredAnswer | None = None
        error: OktaGuardError | None = _abandoned()
        if not lead and flight.led_from_this_thread():
            # A task of this thread's own loop leads: blocking would deadlock; ask alone.
            entry, error = self._ask_sync(token, key, last, exp)
        elif not lead:
            return self._follow(flight, flight.wait(self.max_wait), access_token)
        else:
            try:
                entry, error = self._ask_sync(token, key, last, exp)
            finally:
                self._land(key, flight, (entry, error))
        if entry is None:
            raise error or _abandoned()
        return self._decide(entry, access_token)

    def _ask_sync(
        self, token: str, key: str, last: StoredAnswer | None, exp: float
    ) -> tuple[StoredAnswer | None, OktaGuardError | None]:
        now = self._clock()
        error = self._blocked(now)
        if error is None:
            self.stats.calls += 1
            try:
                answer = self.introspector.introspect(token)
            except Exception as exc:
                error = self._failed(exc, self._clock())
            else:
                now = self._clock()
                entry = StoredAnswer(answer, now)
                self._slots.save(key, entry, self._ttl(entry, now, exp))
                return entry, None
        try:
            return self._fallback(last, now, exp, error), None
        except IssuerUnavailableError as exc:
            return None, exc

    # -- async -----------------------------------------------------------------------------

    async def check_async(self, token: str, access_token: AccessToken) -> AccessToken:
        """Async :meth:`check`; shares the cache and the single flight with sync callers."""
        exp = access_token.expires_at.timestamp()
        key = self._slots.slot(token)
        last = await self._slots.load_async(key)
        now = self._clock()
        if last is not None and self._usable(last, now, exp):
            self.stats.cache_hits += 1
            return self._decide(last, access_token)
        flight, lead = self._join(key, asyncio.get_running_loop())
        if not lead:
            return self._follow(flight, await flight.wait_async(self.max_wait), access_token)
        entry: StoredAnswer | None = None
        error: OktaGuardError | None = _abandoned()
        try:
            entry, error = await self._ask_async(token, key, last, exp)
        finally:  # also on cancellation: waiters are released (and ask again next time)
            self._land(key, flight, (entry, error))
        if entry is None:
            raise error or _abandoned()
        return self._decide(entry, access_token)

    async def _ask_async(
        self, token: str, key: str, last: StoredAnswer | None, exp: float
    ) -> tuple[StoredAnswer | None, OktaGuardError | None]:
        now = self._clock()
        error = self._blocked(now)
        if error is None:
            self.stats.calls += 1
            try:
                answer = await self.introspector.introspect_async(token)
            except Exception as exc:
                error = self._failed(exc, self._clock())
            else:
                now = self._clock()
                entry = StoredAnswer(answer, now)
                await self._slots.save_async(key, entry, self._ttl(entry, now, exp))
                return entry, None
        try:
            return self._fallback(last, now, exp, error), None
        except IssuerUnavailableError as exc:
            return None, exc


def _abandoned() -> IssuerUnavailableError:
    return IssuerUnavailableError(
        "The introspection request was abandoned; try again.", reason="introspection_unavailable"
    )
