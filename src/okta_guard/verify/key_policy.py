"""The key cache policy: when to fetch the JWKS, what to serve meanwhile (sans-IO).

:class:`KeyCachePolicy` is a small state machine over time and fetch outcomes.
It does no I/O and reads no clock: the drivers in :mod:`okta_guard.verify.key_cache` pass
``now`` in, perform the fetches it asks for, and report the outcome back.
That keeps the sync and async paths identical and makes every rule testable
with a fake clock:

* one fetch in flight at a time (``Fetch(start=True)`` goes to exactly one caller);
* time to live from ``Cache-Control: max-age``, clamped, refreshed ahead of expiry;
* an unknown kid refetches at most once per cooldown, and a kid the latest key
  set lacked is remembered (bounded), so floods never cost more than one fetch
  per cooldown and never delay known kids;
* a failed fetch never empties the cache: the last good keys are served up to
  ``max_stale`` past their expiry, with backoff (and ``Retry-After``) between tries;
* nothing usable and no fetch allowed: ``Unavailable`` (HTTP 503), never a 401.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TypeAlias, Union

from cachetools import LRUCache

from okta_guard._retry import backoff_delay, retry_after_seconds
from okta_guard._sansio import HttpRequest, HttpResponse, expect_response
from okta_guard.verify.discovery import discovery_flow
from okta_guard.verify.keyset import InvalidKeySetError, KeyEntry, KeySetContent, parse_key_set

__all__ = [
    "Fetch",
    "FetchFailure",
    "FetchOutcome",
    "KeysFetched",
    "KeyCachePolicy",
    "Lookup",
    "PolicyConfig",
    "Reject",
    "Unavailable",
    "Use",
    "interpret_jwks_response",
    "key_fetch_flow",
    "ttl_from_cache_control",
]


@dataclass(frozen=True)
class PolicyConfig:
    """Tunables of the key cache; every duration is in seconds.

    ``deadline`` bounds a whole fetch (discovery and keys) and every caller's wait for
    one; ``flight_timeout`` is when a flight whose driver vanished stops blocking others.
    """

    cooldown: float = 30.0
    max_stale: float = 86400.0
    min_ttl: float = 300.0
    max_ttl: float = 86400.0
    default_ttl: float = 3600.0
    refresh_ahead: float = 0.2
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    unknown_kid_memory: int = 1024
    remember_unknown_for: float = 120.0
    flight_timeout: float = 60.0
    deadline: float = 10.0


@dataclass(frozen=True)
class Use:
    """Verify with ``entry``.  ``refresh``: this caller should start a background refresh."""

    entry: KeyEntry
    stale: bool = False
    refresh: bool = False


@dataclass(frozen=True)
class Fetch:
    """Wait for a key set fetch; ``start``: this caller starts it (it is now in flight)."""

    start: bool


@dataclass(frozen=True)
class Reject:
    """The kid cannot be used: ``unknown_kid``, ``ambiguous_kid`` or ``unusable_key``."""

    reason: str


@dataclass(frozen=True)
class Unavailable:
    """No usable key set and no fetch allowed now; retry after ``retry_after`` seconds."""

    retry_after: float


Lookup: TypeAlias = Union[Use, Fetch, Reject, Unavailable]  # noqa: UP007

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d{1,12})\"?", re.IGNORECASE)


def ttl_from_cache_control(value: str | None, config: PolicyConfig) -> float:
    """Time to live of a key set from its ``Cache-Control`` header, clamped to the config range.

    ``no-store``/``no-cache`` give the minimum; a missing or unreadable
    ``max-age`` gives ``default_ttl``.
    """
    ttl = config.default_ttl
    if value:
        lowered = value.lower()
        match = _MAX_AGE.search(value)
        if "no-store" in lowered or "no-cache" in lowered:
            ttl = config.min_ttl
        elif match:
            ttl = float(match.group(1))
    return min(config.max_ttl, max(config.min_ttl, ttl))


class KeyCachePolicy:
    """The state of one key cache and the decisions over it.  Not thread-safe by itself:
    the drivers call it under their lock.

    Public read-only state: ``keys`` (kid -> :class:`KeyEntry`), ``generation``
    (bumped whenever the usable keys change), ``fetched_at``, ``expires_at``,
    ``in_flight`` and the counters ``fetches``, ``fetch_failures``,
    ``stale_serves``, ``unknown_kids``.
    """

    def __init__(
        self, config: PolicyConfig | None = None, *, rand: Callable[[], float] = random.random
    ) -> None:
        self.config = config or PolicyConfig()
        self._rand = rand
        self.keys: Mapping[str, KeyEntry] = {}
        self.ambiguous: frozenset[str] = frozenset()
        self.unusable: frozenset[str] = frozenset()
        self.generation = 0
        self.has_keys = False
        self.fetched_at = float("-inf")
        self.expires_at = float("-inf")
        self.refresh_at = float("-inf")
        self.last_attempt_at = float("-inf")
        self.next_attempt_at = float("-inf")
        self.consecutive_failures = 0
        self.in_flight = False
        self.flight_started_at = float("-inf")
        # Bounded least-recently-used memory of kids the key set lacked, with when.
        self._unknown: LRUCache[str, float] = LRUCache(maxsize=self.config.unknown_kid_memory)
        self.fetches = 0
        self.fetch_failures = 0
        self.stale_serves = 0
        self.unknown_kids = 0

    # -- queries -------------------------------------------------------------------------

    def usable(self, now: float) -> bool:
        """Tell whether the cached key set may still be used (fresh, or stale within bounds)."""
        return self.has_keys and now <= self.expires_at + self.config.max_stale

    def refresh_due(self, now: float) -> bool:
        """Tell whether a refresh should start now (due, none in flight, not backing off)."""
        return now >= self.refresh_at and self._may_start(now)

    def _flight_busy(self, now: float) -> bool:
        # A flight whose driver vanished (its event loop closed) must not block forever.
        return self.in_flight and now - self.flight_started_at < self.config.flight_timeout

    def _may_start(self, now: float) -> bool:
        return not self._flight_busy(now) and now >= self.next_attempt_at

    def _start(self, now: float) -> None:
        self.in_flight = True
        self.flight_started_at = now
        self.last_attempt_at = now
        self.fetches += 1

    def retry_after(self, now: float) -> float:
        """Seconds until a fetch may be tried again (at least 1)."""
        return max(1.0, self.next_attempt_at - now)

    def lookup(self, now: float, kid: str, *, allow_fetch: bool = True) -> Lookup:
        """Decide what a caller holding a token with ``kid`` should do at time ``now``.

        ``allow_fetch=False`` is for a caller that already waited for one fetch:
        it never gets ``Fetch`` again, so each request costs at most one fetch.
        """
        if not self.usable(now):
            if allow_fetch and self._flight_busy(now):
                return Fetch(start=False)
            if allow_fetch and self._may_start(now):
                self._start(now)
                return Fetch(start=True)
            return Unavailable(self.retry_after(now))
        entry = self.keys.get(kid)
        if entry is not None:
            stale = now > self.expires_at
            if stale:
                self.stale_serves += 1
            refresh = now >= self.refresh_at and self._may_start(now)
            if refresh:
                self._start(now)
            return Use(entry, stale=stale, refresh=refresh)
        if kid in self.ambiguous or kid in self.unusable:
            # An odd answer (the key twice, with use "enc", another alg) must not stick
            # beyond the key set's own time to live: when a refresh is due, fetch.
            if allow_fetch and now >= self.refresh_at:
                if self._flight_busy(now):
                    return Fetch(start=False)
                if self._may_start(now):
                    self._start(now)
                    return Fetch(start=True)
            return Reject("ambiguous_kid" if kid in self.ambiguous else "unusable_key")
        if allow_fetch:
            seen = self._unknown.get(kid)
            if seen is None or now - seen >= self.config.remember_unknown_for:
                if self._flight_busy(now):
                    return Fetch(start=False)
                if now - self.last_attempt_at >= self.config.cooldown and self._may_start(now):
                    self._start(now)
                    return Fetch(start=True)
        if self.consecutive_failures:
            # The key set could not be refreshed: the kid may be a new, legitimate key.
            # "Try again later" (503) is the honest answer, not "invalid token".
            return Unavailable(self.retry_after(now))
        if not allow_fetch:
            # This caller waited for a fetch: the newest key set lacks the kid.
            self._remember_unknown(kid, self.fetched_at)
        self.unknown_kids += 1
        return Reject("unknown_kid")

    def _remember_unknown(self, kid: str, when: float) -> None:
        self._unknown[kid] = when

    def remembered_unknown(self) -> int:
        """How many unknown kids are remembered (bounded by ``unknown_kid_memory``)."""
        return len(self._unknown)

    # -- transitions ---------------------------------------------------------------------

    def begin_refresh(self, now: float, *, force: bool = False) -> bool:
        """Start a fetch now unless one is in flight (``force``: even then); tell whether it did.

        Used for prewarming, which ignores the backoff.
        """
        if self._flight_busy(now) and not force:
            return False
        self._start(now)
        return True

    def fetch_succeeded(self, now: float, content: KeySetContent, ttl: float) -> frozenset[str]:
        """Install a freshly fetched key set; return the kids whose key was removed or changed."""
        old = self.keys
        removed = frozenset(kid for kid, entry in old.items() if content.keys.get(kid) is not entry)
        if removed or set(content.keys) != set(old) or not self.has_keys:
            self.generation += 1
        self.keys = dict(content.keys)
        self.ambiguous = content.ambiguous
        self.unusable = content.unusable
        self.has_keys = True
        self.fetched_at = now
        self.expires_at = now + ttl
        self.refresh_at = now + ttl * (1.0 - self.config.refresh_ahead)
        # Leases: the keys of this set are fresh until its refresh time; the removed or
        # changed ones never again (their cached verdicts then take the careful check).
        until = min(self.refresh_at, self.expires_at)
        for entry in self.keys.values():
            entry.lease.until = until
        for kid in removed:
            old[kid].lease.until = float("-inf")
        self.consecutive_failures = 0
        self.next_attempt_at = now
        # Kids absent from this set stay "unknown as of now"; present ones are forgotten.
        for kid in list(self._unknown):
            if kid in self.keys:
                del self._unknown[kid]
        self.in_flight = False
        return removed

    def fetch_failed(self, now: float, retry_after: float | None = None) -> float:
        """Record a failed fetch; keep the keys; return the delay before the next try."""
        self.fetch_failures += 1
        self.consecutive_failures += 1
        delay = backoff_delay(
            self.consecutive_failures,
            base=self.config.backoff_base,
            cap=self.config.backoff_cap,
            rand=self._rand,
        )
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.next_attempt_at = now + delay
        self.in_flight = False
        return delay


@dataclass(frozen=True)
class KeysFetched:
    """A fetch that produced a key set, with its time to live and the ``jwks_uri`` used.

    ``alarm``: the set is installed but nothing can be verified with it (no usable key
    and no earlier keys to keep) - the drivers log it as an error.
    """

    content: KeySetContent
    ttl: float
    jwks_uri: str
    jwks_uri_final: bool = True
    notes: tuple[str, ...] = ()
    alarm: str = ""


@dataclass(frozen=True)
class FetchFailure:
    """A fetch that failed; ``reason`` is a safe log text, ``retry_after`` the server's hint.

    ``misconfigured``: the answer says the configuration is wrong (a 404 for the key set
    or discovery, an empty key set) rather than that the issuer is down - the drivers log
    it as an error, naming the URL and the likely fix.
    """

    reason: str
    retry_after: float | None = None
    notes: tuple[str, ...] = ()
    misconfigured: bool = False


FetchOutcome: TypeAlias = Union[KeysFetched, FetchFailure]  # noqa: UP007


def interpret_jwks_response(
    response: HttpResponse,
    *,
    now: float,
    config: PolicyConfig,
    algorithms: frozenset[str],
    previous: Mapping[str, KeyEntry],
    jwks_uri: str,
) -> FetchOutcome:
    """Turn the JWKS response into an outcome (garbage, 429 and 5xx are failures)."""
    if response.error is not None:
        return FetchFailure(f"JWKS request failed: {response.error}")
    if response.status != 200:
        hint = retry_after_seconds(response.headers, now)
        return FetchFailure(f"JWKS request answered HTTP {response.status}", retry_after=hint)
    try:
        content = parse_key_set(response.body, algorithms=algorithms, previous=previous)
    except InvalidKeySetError as exc:
        return FetchFailure(f"JWKS response refused: {exc}")
    if not content.keys:
        problem = (
            f"the key set at {jwks_uri} holds no usable signing key "
            f"({_describe(content, algorithms)})"
        )
        if previous:
            # An empty or wholly unusable set is not "every key retracted": it is an answer
            # nobody can verify with.  Keep the last good keys (a failed refresh).
            return FetchFailure(f"{problem}; keeping the last good keys", misconfigured=True)
        ttl = ttl_from_cache_control(response.headers.get("cache-control"), config)
        return KeysFetched(
            content=content, ttl=ttl, jwks_uri=jwks_uri, alarm=f"{problem}; tokens are refused"
        )
    ttl = ttl_from_cache_control(response.headers.get("cache-control"), config)
    return KeysFetched(content=content, ttl=ttl, jwks_uri=jwks_uri)


def not_found_diagnosis(
    issuer: str, jwks_uri: str, notes: tuple[str, ...] = (), *, configured: bool = False
) -> str:
    """Say what a 404 for the key set means, naming the URL and the likely fix.

    ``configured``: the URL is the explicit ``jwks_uri`` option, not a discovered one.
    """
    discovered_404 = any("answered HTTP 404" in note for note in notes)
    server_id = issuer.rsplit("/oauth2/", 1)[-1] if "/oauth2/" in issuer else ""
    text = f"the key set URL {jwks_uri} answered 404 Not Found"
    if discovered_404:
        text += " (and so did the discovery documents)"
    if configured:
        text += ": this is a configuration error, not an outage - check the jwks_uri option"
    elif server_id:
        text += (
            f": this is a configuration error, not an outage - check the issuer {issuer}; "
            f"the authorization server id {server_id!r} is probably wrong (Okta admin: "
            "Security > API > Authorization Servers shows each server's Issuer URI)"
        )
    else:
        text += ": this is a configuration error, not an outage - check the issuer and jwks_uri"
    return text


def _describe(content: KeySetContent, algorithms: frozenset[str]) -> str:
    parts = []
    if content.ambiguous:
        parts.append(f"{len(content.ambiguous)} ambiguous kid(s)")
    if content.unusable:
        allowed = "/".join(sorted(algorithms))
        parts.append(f"{len(content.unusable)} key(s) unusable for {allowed} signatures")
    return ", ".join(parts) or "no keys"


def key_fetch_flow(
    issuer: str,
    jwks_uri: str | None,
    *,
    now: float,
    config: PolicyConfig,
    algorithms: frozenset[str],
    previous: Mapping[str, KeyEntry],
) -> Generator[HttpRequest, HttpResponse | None, FetchOutcome]:
    """Discover the ``jwks_uri`` when it is not known yet, then fetch and parse the keys."""
    final = True
    notes: tuple[str, ...] = ()
    configured = jwks_uri is not None
    if jwks_uri is None:
        found = yield from discovery_flow(issuer)
        jwks_uri, final, notes = found.jwks_uri, found.final, found.notes
        if found.unreachable:
            return FetchFailure("the issuer is unreachable", notes=notes)
    response = expect_response((yield HttpRequest(jwks_uri)))
    if response.status == 404:
        diagnosis = not_found_diagnosis(issuer, jwks_uri, notes, configured=configured)
        return FetchFailure(diagnosis, notes=notes, misconfigured=True)
    outcome = interpret_jwks_response(
        response,
        now=now,
        config=config,
        algorithms=algorithms,
        previous=previous,
        jwks_uri=jwks_uri,
    )
    if isinstance(outcome, KeysFetched):
        return KeysFetched(outcome.content, outcome.ttl, jwks_uri, final, notes, outcome.alarm)
    return FetchFailure(outcome.reason, outcome.retry_after, notes, outcome.misconfigured)
