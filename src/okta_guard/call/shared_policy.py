"""The fleet-wide single flight of service tokens, free of I/O.

:func:`shared_fetch_flow` is the whole protocol by which the one *leader* of a
process (elected by the process-local :class:`~okta_guard.call.token_cache.TokenCache`)
gets a token through a shared :class:`~okta_guard.store.Store`, written once as a
generator that yields store operations, pauses and "fetch from Okta now"; the sync
and async drivers in :mod:`okta_guard.call.shared_cache` do the I/O:

1. read the shared entry; fresh -> use it (no token request);
2. else take the fleet lock (``SET NX PX``): the lock holder checks again, fetches
   from Okta, stores the encrypted entry, releases the lock;
3. someone else holds the lock: a still-valid entry is used meanwhile (refresh
   ahead happens once per fleet) and looked at again shortly; without one, wait
   for the holder's entry, retrying the lock (a dead holder's lock expires), up
   to ``settings.wait`` seconds - then fetch from Okta rather than fail.

Any store failure (the driver throws :class:`StoreFailure` into the flow) ends the
store's part: the token comes from Okta, and :class:`StoreHealth` keeps the store
aside for ``settings.retry_after`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass

from okta_guard.call.policy import MIN_VALIDITY, CachedToken, Fatal, Freshness, Success, freshness

__all__ = [
    "FetchToken",
    "Pause",
    "SharedFlow",
    "SharedStats",
    "StoreFailure",
    "StoreGet",
    "StoreHealth",
    "StoreLock",
    "StoreSet",
    "StoreSettings",
    "StoreUnlock",
    "shared_fetch_flow",
]

logger = logging.getLogger("okta_guard.call.shared")


@dataclass(frozen=True)
class StoreSettings:
    """How a :class:`~okta_guard.TokenClient` uses a shared store.

    Attributes:
        wait: the longest a process waits for another's token request (seconds)
            before asking Okta itself.
        lock_ttl: expiry of the fleet lock, so a holder that dies frees it.
        poll_min / poll_max: first and longest pause between looks at the store while
            waiting (the pause grows by half each time).
        recheck: while another process refreshes a still-valid token, look at the
            store again after this long.
        retry_after: after a store failure, leave the store aside this long.
    """

    wait: float = 5.0
    lock_ttl: float = 10.0
    poll_min: float = 0.01
    poll_max: float = 0.1
    recheck: float = 0.5
    retry_after: float = 5.0

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"StoreSettings.{item.name} must be a finite number >= 0")
        if self.lock_ttl <= 0 or self.poll_min <= 0 or self.poll_max < self.poll_min:
            raise ValueError("StoreSettings needs lock_ttl > 0 and 0 < poll_min <= poll_max")


@dataclass(frozen=True)
class StoreGet:
    """Read the sealed entry (the driver sends back ``bytes | None``)."""

    key: str


@dataclass(frozen=True)
class StoreSet:
    """Write the sealed entry for ``ttl`` seconds (the driver sends back ``None``)."""

    key: str
    value: bytes = dataclasses.field(repr=False)
    ttl: float


@dataclass(frozen=True)
class StoreLock:
    """Try to take the lock (the driver sends back the owner token or ``None``)."""

    key: str
    ttl: float


@dataclass(frozen=True)
class StoreUnlock:
    """Release the lock if still ``owner``'s (the driver sends back a ``bool``)."""

    key: str
    owner: str = dataclasses.field(repr=False)


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` of real time (the driver sends back ``None``)."""

    seconds: float


@dataclass(frozen=True)
class FetchToken:
    """Ask Okta now (the driver sends back the fetch's ``Success | Fatal``)."""


class StoreFailure(Exception):
    """Thrown into the flow by a driver when a store operation raised ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


Op = StoreGet | StoreSet | StoreLock | StoreUnlock | Pause | FetchToken
SharedFlow = Generator[Op, "bytes | str | bool | Success | Fatal | None", "CachedToken | Fatal"]


class SharedStats:
    """Counters of one client's use of the store (read them with :meth:`snapshot`)."""

    __slots__ = (
        "_lock",
        "fallbacks",
        "issuer_fetches",
        "rejected_entries",
        "store_errors",
        "store_hits",
        "wait_timeouts",
        "waits",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.store_hits = 0  # tokens taken from the store instead of Okta
        self.issuer_fetches = 0  # token requests made as the fleet's lock holder
        self.waits = 0  # leaders that waited for another process's request
        self.wait_timeouts = 0  # ... and gave up waiting, asking Okta themselves
        self.store_errors = 0  # store operations that raised
        self.fallbacks = 0  # token requests made without the store (failing or set aside)
        self.rejected_entries = 0  # entries that failed to decrypt / authenticate

    def bump(self, name: str) -> None:
        """Add one to counter ``name``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, int]:
        """The counters now, by name."""
        with self._lock:
            return {n: getattr(self, n) for n in self.__slots__ if n != "_lock"}

    def __repr__(self) -> str:
        return f"SharedStats({self.snapshot()})"


class StoreHealth:
    """Whether to consult the store now: set aside for a while after a failure."""

    def __init__(self, retry_after: float) -> None:
        self._retry_after = retry_after
        self._down_until: float | None = None
        self._lock = threading.Lock()

    def available(self, now: float) -> bool:
        """True unless a failure less than ``retry_after`` seconds ago set the store aside."""
        down = self._down_until
        return down is None or now >= down

    def failed(self, now: float, cause: BaseException) -> None:
        """Record a failure; the first of an outage is logged as a warning."""
        with self._lock:
            first = self._down_until is None
            self._down_until = now + self._retry_after
        if first:
            logger.warning(
                "The shared token store failed (%s); asking Okta directly, one request per "
                "process, and trying the store again in %.0f s.",
                type(cause).__name__,
                self._retry_after,
            )

    def succeeded(self) -> None:
        """Record a working store call, ending an outage."""
        if self._down_until is None:
            return
        with self._lock:
            was_down, self._down_until = self._down_until is not None, None
        if was_down:
            logger.warning("The shared token store answers again; sharing tokens resumes.")


def _usable(entry: CachedToken | None, now: float) -> Freshness:
    return freshness(entry, now)


def shared_fetch_flow(
    *,
    slot: str,
    lock: str,
    open_entry: Callable[[bytes | None], CachedToken | None],
    seal_entry: Callable[[CachedToken], bytes],
    to_entry: Callable[[Success], CachedToken],
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    settings: StoreSettings,
    health: StoreHealth,
    stats: SharedStats,
    shareable: Callable[[CachedToken], bool] = lambda entry: True,
) -> SharedFlow:
    """The protocol of one leader's shared fetch (see the module docstring).

    ``slot`` / ``lock`` are the store keys; ``open_entry`` decrypts a stored value
    (``None`` when absent or not authentic), ``seal_entry`` encrypts one;
    ``to_entry`` turns a fetched token into a cache entry; ``shareable`` says whether a
    fetched entry may go to the store (a DPoP-bound token only to its key's slot).
    ``clock`` is the token clock (epoch seconds), ``monotonic`` the real-time clock of
    waits.  Returns the entry to cache, or the fetch's :class:`Fatal`.
    """
    if not health.available(monotonic()):
        stats.bump("fallbacks")
        return _settle_direct((yield FetchToken()), to_entry)
    fetched: CachedToken | Fatal | None = None
    owner: str | None = None
    try:
        entry = open_entry(_as_value((yield StoreGet(slot))))
        health.succeeded()
        state = _usable(entry, clock())
        if entry is not None and state is Freshness.FRESH:
            stats.bump("store_hits")
            return entry
        deadline = monotonic() + settings.wait
        pause = settings.poll_min
        waited = False
        while True:
            owner = _as_owner((yield StoreLock(lock, settings.lock_ttl)))
            if owner is not None:
                # We hold the fleet lock: someone may have stored a token meanwhile.
                again = open_entry(_as_value((yield StoreGet(slot))))
                if again is not None and _usable(again, clock()) is Freshness.FRESH:
                    yield StoreUnlock(lock, owner)
                    stats.bump("store_hits")
                    return again
                stats.bump("issuer_fetches")
                fetched = _settle_direct((yield FetchToken()), to_entry)
                if isinstance(fetched, CachedToken) and shareable(fetched):
                    ttl = fetched.expires_at - clock()
                    if ttl > MIN_VALIDITY:
                        yield StoreSet(slot, seal_entry(fetched), ttl)
                yield StoreUnlock(lock, owner)
                return fetched
            if entry is not None and _usable(entry, clock()) is not Freshness.UNUSABLE:
                # Another process is refreshing: use the valid token, look again soon.
                stats.bump("store_hits")
                return _recheck_soon(entry, clock(), settings.recheck)
            if not waited:
                waited = True
                stats.bump("waits")
            if monotonic() >= deadline:
                stats.bump("wait_timeouts")
                logger.warning(
                    "Waited %.1f s for another process's token request; asking Okta directly.",
                    settings.wait,
                )
                fetched = _settle_direct((yield FetchToken()), to_entry)
                return fetched
            yield Pause(min(pause, max(0.0, deadline - monotonic())))
            pause = min(pause * 1.5, settings.poll_max)
            entry = open_entry(_as_value((yield StoreGet(slot))))
            if entry is not None and _usable(entry, clock()) is Freshness.FRESH:
                stats.bump("store_hits")
                return entry
    except StoreFailure as failure:
        stats.bump("store_errors")
        health.failed(monotonic(), failure.cause)
        if fetched is not None:
            return fetched
        stats.bump("fallbacks")
        return _settle_direct((yield FetchToken()), to_entry)


def _settle_direct(
    outcome: bytes | str | bool | Success | Fatal | None, to_entry: Callable[[Success], CachedToken]
) -> CachedToken | Fatal:
    if isinstance(outcome, Success):
        return to_entry(outcome)
    if isinstance(outcome, Fatal):
        return outcome
    raise TypeError("the driver must answer FetchToken with Success or Fatal")  # pragma: no cover


def _recheck_soon(entry: CachedToken, now: float, recheck: float) -> CachedToken:
    return dataclasses.replace(
        entry, refresh_at=min(now + recheck, entry.expires_at - MIN_VALIDITY)
    )


def _as_value(reply: object) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise StoreFailure(TypeError("the store answered a get with something other than bytes"))


def _as_owner(reply: object) -> str | None:
    if reply is None or isinstance(reply, str):
        return reply
    raise StoreFailure(TypeError("the store answered a lock with something other than a str"))
