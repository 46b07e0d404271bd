"""The store: a small shared key-value cache behind a protocol, in-process or on a server.

A *store* holds short-lived byte values under string keys.  The token client uses
one to share service tokens between processes (``TokenClient(..., store=...)``),
the verifier to remember DPoP proof ``jti`` values across replicas
(``TokenVerifier(..., replay_store=...)``).  :class:`MemoryStore` is the
in-process default; :class:`okta_guard.redis.RedisStore` shares one Redis (or
Valkey) between every process and host.  Other engines plug in by implementing
:class:`Store`:

===========================================  =========================================
``get(key) -> bytes | None``                 the value, or ``None`` if absent/expired
``set(key, value, ttl) -> None``             store ``value`` for ``ttl`` seconds
``add(key, value, ttl) -> bool``             atomic add-if-absent; ``True`` if added
``delete(key) -> None``                      forget ``key`` (absent is fine)
``lock(key, ttl) -> str | None``             take a lock that expires after ``ttl``
                                             seconds; the owner token, or ``None``
                                             when someone else holds it
``unlock(key, owner) -> bool``               release it, only if ``owner`` still holds it
===========================================  =========================================

and the same six as coroutines with an ``_async`` suffix (``get_async`` ...).
A store signals trouble (unreachable, timed out, answering garbage) by raising any
exception; callers catch ``Exception`` from store calls and decide what failing
means for them (the token client falls back to asking Okta, the replay check
refuses the proof).  Values are opaque bytes: the token client encrypts what it
stores, so a store never needs to be trusted with a usable token.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["MemoryStore", "Store", "StoreFull", "check_ttl"]


class StoreFull(RuntimeError):
    """:meth:`MemoryStore.add` found ``max_entries`` live entries: refusing beats forgetting."""


@runtime_checkable
class Store(Protocol):
    """A shared cache of short-lived byte values (see the module docstring)."""

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds only if ``key`` is absent; tell whether it was."""

    def delete(self, key: str) -> None:
        """Forget ``key``."""

    def lock(self, key: str, ttl: float) -> str | None:
        """Take the lock ``key`` for at most ``ttl`` seconds; the owner token or ``None``."""

    def unlock(self, key: str, owner: str) -> bool:
        """Release the lock ``key`` if ``owner`` still holds it; tell whether it did."""

    async def get_async(self, key: str) -> bytes | None:
        """Async :meth:`get`."""

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """Async :meth:`set`."""

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        """Async :meth:`add`."""

    async def delete_async(self, key: str) -> None:
        """Async :meth:`delete`."""

    async def lock_async(self, key: str, ttl: float) -> str | None:
        """Async :meth:`lock`."""

    async def unlock_async(self, key: str, owner: str) -> bool:
        """Async :meth:`unlock`."""


def check_ttl(ttl: float) -> float:
    """Check a time to live (seconds): finite and positive."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < 10**9:
        raise ValueError("A store ttl must be a positive number of seconds.")
    return float(ttl)


def new_owner() -> str:
    """A fresh, unguessable lock owner token."""
    return secrets.token_hex(16)


class MemoryStore:
    """The in-process :class:`Store`: a dict with expiry, safe for threads and tasks.

    Shares nothing between processes; use :class:`okta_guard.redis.RedisStore` for
    that.  ``clock`` (monotonic seconds) drives expiry; ``max_entries`` bounds
    memory: past it, expired entries are swept (at most once a second) and then
    :meth:`set` drops the oldest, while :meth:`add` (a replay check, a lock) never
    forgets a live entry and raises :class:`StoreFull` instead.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._max = max_entries
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = float("-inf")

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self._data)})"

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str, now: float) -> tuple[bytes, float] | None:
        item = self._data.get(key)
        if item is not None and now >= item[1]:
            del self._data[key]
            return None
        return item

    def _put(self, key: str, value: bytes, ttl: float, now: float, *, evict: bool = True) -> None:
        until = now + check_ttl(ttl)
        if key not in self._data and len(self._data) >= self._max:
            if now >= self._next_sweep:  # a full sweep at most once a second
                for stale in [k for k, (_, end) in self._data.items() if now >= end]:
                    del self._data[stale]
                self._next_sweep = now + 1.0
            if len(self._data) >= self._max and not evict:
                # add() is a replay check or a lock: forgetting a live entry would let a
                # DPoP proof be used twice, or two holders take one lock.
                raise StoreFull(
                    f"the in-process store holds {self._max} live entries; raise max_entries "
                    "or use a shared store"
                )
            while len(self._data) >= self._max:
                del self._data[next(iter(self._data))]
        self._data.pop(key, None)
        self._data[key] = (bytes(value), until)

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""
        with self._lock:
            item = self._live(key, self._clock())
        return item[0] if item is not None else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""
        with self._lock:
            self._put(key, value, ttl, self._clock())

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds only if ``key`` is absent; tell whether it was."""
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._put(key, value, ttl, now, evict=False)
            return True

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._data.pop(key, None)

    def lock(self, key: str, ttl: float) -> str | None:
        """Take the lock ``key`` for at most ``ttl`` seconds; the owner token or ``None``."""
        owner = new_owner()
        return owner if self.add(key, owner.encode(), ttl) else None

    def unlock(self, key: str, owner: str) -> bool:
        """Release the lock ``key`` if ``owner`` still holds it; tell whether it did."""
        with self._lock:
            item = self._live(key, self._clock())
            if item is None or not secrets.compare_digest(item[0], owner.encode()):
                return False
            del self._data[key]
            return True

    async def get_async(self, key: str) -> bytes | None:
        """Async :meth:`get` (no I/O: answers at once)."""
        return self.get(key)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """Async :meth:`set`."""
        self.set(key, value, ttl)

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        """Async :meth:`add`."""
        return self.add(key, value, ttl)

    async def delete_async(self, key: str) -> None:
        """Async :meth:`delete`."""
        self.delete(key)

    async def lock_async(self, key: str, ttl: float) -> str | None:
        """Async :meth:`lock`."""
        return self.lock(key, ttl)

    async def unlock_async(self, key: str, owner: str) -> bool:
        """Async :meth:`unlock`."""
        return self.unlock(key, owner)
