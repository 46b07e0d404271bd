"""The token client's decisions, free of I/O: freshness, cache keys and the retry protocol.

Everything here is a pure function of the time and of what the token endpoint
answered (h11-style *sans-IO*).  :func:`token_fetch_flow` is the whole retry
protocol written once as a generator that yields the requests to send and the
delays to wait, in the vocabulary of :mod:`okta_guard._sansio` (the one the key
cache speaks too); the shared drivers there, called by
:mod:`okta_guard.call.token_request`, do the I/O.  What one answer means is read in
:mod:`okta_guard.call.token_response`.  That keeps the policy unit-testable with a
fake clock and no network.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from okta_guard._grammar import AuthMethod
from okta_guard._retry import backoff_delay
from okta_guard._sansio import Flow, HttpRequest, Sleep
from okta_guard.call.token_response import (
    MAX_TOKEN_LIFETIME,
    Fatal,
    Outcome,
    Retry,
    Success,
    classify_failure,
    classify_response,
)
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "AuthMethod",
    "CacheKey",
    "CachedToken",
    "Fatal",
    "FetchFlow",
    "Freshness",
    "Retry",
    "RetrySettings",
    "Sleep",
    "Success",
    "classify_failure",
    "classify_response",
    "freshness",
    "refresh_at",
    "token_fetch_flow",
]


@dataclass(frozen=True)
class RetrySettings:
    """How hard the client tries, and how long it waits, before giving up.

    Attributes:
        max_attempts: token requests per fetch, first one included.
        backoff_base / backoff_cap: exponential backoff with jitter between attempts
            after a network error or a 5xx (see :func:`okta_guard._retry.backoff_delay`).
        max_retry_wait: the longest wait a 429 (``Retry-After`` / ``X-Rate-Limit-Reset``)
            may impose; asked to wait longer, the fetch fails at once instead.
        failure_cooldown: after a fatal answer (``invalid_client`` ...), callers fail fast
            with the same error for this long instead of asking Okta again.
        refresh_retry: after a failed refresh while the old token is still valid, wait
            this long before trying again (the old token is used meanwhile).
    """

    max_attempts: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    max_retry_wait: float = 30.0
    failure_cooldown: float = 30.0
    refresh_retry: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("backoff_base", "backoff_cap", "max_retry_wait", "failure_cooldown"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")


@dataclass(frozen=True)
class CacheKey:
    """Everything that changes the token a client gets; one cache slot per key.

    Holds no secret (two clients differing only in their secret share a slot).
    """

    issuer: str
    client_id: str
    scopes: tuple[str, ...]
    auth_method: str
    extra_params: tuple[tuple[str, str], ...] = ()
    #: RFC 7638 thumbprint of the DPoP proof key (DPoP-bound tokens are of that key only).
    dpop_jkt: str | None = None

    @classmethod
    def build(
        cls,
        issuer: str,
        client_id: str,
        scopes: Sequence[str],
        auth_method: str,
        extra_params: Mapping[str, str] | None = None,
        dpop_jkt: str | None = None,
    ) -> CacheKey:
        """Build a key with scopes and extra parameters in canonical (sorted) order."""
        return cls(
            issuer=issuer,
            client_id=client_id,
            scopes=tuple(sorted(set(scopes))),
            auth_method=auth_method,
            extra_params=tuple(sorted((extra_params or {}).items())),
            dpop_jkt=dpop_jkt,
        )


@dataclass(frozen=True)
class CachedToken:
    """A service token in the cache with the epoch times that drive its refresh."""

    token: ServiceToken
    obtained_at: float
    refresh_at: float
    expires_at: float


class Freshness(enum.Enum):
    """What a cached token is good for at a given time."""

    FRESH = "fresh"  # use it
    REFRESH_DUE = "refresh_due"  # still valid: use it, but one caller should refresh
    UNUSABLE = "unusable"  # missing or expired: callers must wait for a new one


# A token with less than this left is not handed out: it could expire in flight.
MIN_VALIDITY = 5.0
# The longest a server-requested wait (Retry-After) keeps callers away.
MAX_HOLD = 300.0
#: The longest lifetime a service token is trusted to have, in seconds: a longer


def refresh_at(obtained_at: float, expires_at: float, *, margin: float, fraction: float) -> float:
    """When to refresh a token: ``margin`` seconds before expiry, less for short tokens.

    The margin is ``min(margin, fraction * lifetime)`` so that a 60 s token is not
    considered due for refresh the moment it arrives.
    """
    lifetime = max(0.0, expires_at - obtained_at)
    return expires_at - min(margin, fraction * lifetime)


def freshness(
    entry: CachedToken | None, now: float, *, refresh_blocked_until: float = 0.0
) -> Freshness:
    """Classify ``entry`` at time ``now``.

    ``refresh_blocked_until`` postpones refreshing a still-valid token after a
    failed refresh, so a struggling issuer is not asked again on every call.
    """
    if entry is None or now >= entry.expires_at - MIN_VALIDITY:
        return Freshness.UNUSABLE
    if now < entry.refresh_at or now < refresh_blocked_until:
        return Freshness.FRESH
    return Freshness.REFRESH_DUE


FetchFlow = Flow["Success | Fatal"]


def token_fetch_flow(
    build_request: Callable[[], HttpRequest],
    *,
    clock: Callable[[], float],
    client_id: str,
    scopes: Sequence[str],
    settings: RetrySettings,
    rand: Callable[[], float] = random.random,
) -> FetchFlow:
    """The retry protocol of one token fetch, as a generator driven by an I/O shell.

    Yields an :class:`~okta_guard._sansio.HttpRequest` (the driver sends it and sends
    back the :class:`~okta_guard._sansio.HttpResponse`, ``error`` set when none arrived)
    or a :class:`Sleep` (the driver waits and sends back ``None``).  Returns the final
    :class:`Success` or :class:`Fatal`; retryable failures that exhaust
    ``settings.max_attempts`` come back as a :class:`Fatal` without cooldown.
    ``build_request`` is called for every attempt so each one carries a fresh client
    assertion.
    """
    attempt = 0
    while True:
        attempt += 1
        request = build_request()
        reply = yield request
        outcome: Outcome
        if reply is None:  # pragma: no cover - a driver bug
            raise TypeError("token_fetch_flow expects a response")
        if reply.error is not None:
            outcome = classify_failure(reply, request.url)
        else:
            outcome = classify_response(reply, clock(), client_id=client_id, scopes=scopes)
        if not isinstance(outcome, Retry):
            return outcome
        error = outcome.error
        if outcome.wait is not None and outcome.wait > settings.max_retry_wait:
            return Fatal(
                TokenRequestError(
                    f"{error.description} The server asked to wait {outcome.wait:.0f} s, "
                    f"more than max_retry_wait ({settings.max_retry_wait:.0f} s).",
                    error=error.error,
                    status_code=error.status_code,
                    retryable=True,
                    reason=error.reason,
                ),
                cooldown=False,
                retry_after=min(outcome.wait, MAX_HOLD),
            )
        if attempt >= settings.max_attempts:
            return Fatal(error, cooldown=False)
        delay = outcome.wait
        if delay is None:
            delay = backoff_delay(
                attempt, base=settings.backoff_base, cap=settings.backoff_cap, rand=rand
            )
        yield Sleep(delay)
