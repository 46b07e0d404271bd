"""The DPoP replay store: each proof ``jti`` is accepted once within its time window.

:class:`ReplayStore` is the narrow part of the shared store protocol the verifier
needs (``add`` / ``add_async``: atomic add-if-absent with a time to live), so a
shared store (Redis, for a fleet of API servers) can stand in for the default
in-process :class:`MemoryReplayStore`.  A store signals trouble by raising any
exception; the verifier then fails closed (503) unless told otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["MemoryReplayStore", "ReplayStore", "ReplayStoreFull"]


@runtime_checkable
class ReplayStore(Protocol):
    """What the DPoP proof check needs from a store (``okta_guard.store`` fits)."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``key`` for ``ttl`` seconds unless present; True if it was added."""
        ...

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        """Async :meth:`add`."""
        ...


class ReplayStoreFull(RuntimeError):
    """The in-process store holds ``maxsize`` live entries: refusing beats forgetting."""


class MemoryReplayStore:
    """A bounded, thread-safe in-process replay store, shared by sync and async callers.

    Entries live ``ttl`` seconds by ``clock``.  When ``maxsize`` entries are all still
    alive, :meth:`add` raises :class:`ReplayStoreFull` instead of forgetting one (which
    would let that proof be replayed); the verifier answers 503 then.  Expired entries
    are dropped as new ones arrive.
    """

    def __init__(self, maxsize: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError("maxsize must be a positive integer")
        self.maxsize = maxsize
        self._clock = clock
        self._entries: dict[str, float] = {}  # insertion (= time) order
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(maxsize={self.maxsize}, entries={len(self._entries)})"

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Remember ``key`` for ``ttl`` seconds; False if it is already remembered."""
        now = self._clock()
        entries = self._entries
        with self._lock:
            until = entries.get(key)
            if until is not None:
                if until > now:
                    return False
                del entries[key]
            if len(entries) >= self.maxsize or now >= self._next_purge:
                self._purge(now)
                if len(entries) >= self.maxsize:
                    raise ReplayStoreFull(
                        f"the DPoP replay store holds {self.maxsize} live proofs; raise "
                        "maxsize or use a shared store"
                    )
            entries[key] = now + ttl
            return True

    def _purge(self, now: float) -> None:
        """Drop expired entries, oldest first (entries are appended in time order; a clock
        stepping back only delays this - expiry itself is checked per entry).  At most
        once a second unless the store is full."""
        entries = self._entries
        expired = []
        for first, first_until in entries.items():
            if first_until > now:
                break
            expired.append(first)
        for first in expired:
            del entries[first]
        self._next_purge = now + 1.0

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        """Same as :meth:`add` (no I/O, so it never waits)."""
        return self.add(key, value, ttl)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
