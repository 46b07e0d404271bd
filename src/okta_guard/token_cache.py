"""The verified-token cache: a token seen before costs a dictionary lookup.

Entries are keyed by the exact token string and hold the
:class:`~okta_guard.models.AccessToken`, its ``exp``/``nbf``, its ``kid`` and
the :class:`~okta_guard.keyset.KeyEntry` that verified it.  The caller
re-checks time and key on every hit (:meth:`VerifiedTokenCache.get` takes the
current key for the kid and compares by identity), so a verdict never outlives
its token or its key.  Memory is bounded by an LRU of ``maxsize`` entries;
only accepted tokens are cached, so a flood of junk does not evict real users.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from .keyset import KeyEntry
from .models import AccessToken

__all__ = ["CachedVerdict", "VerifiedTokenCache"]


@dataclass(frozen=True)
class CachedVerdict:
    """One accepted token: the result and what it depended on."""

    token: AccessToken
    exp: float
    nbf: float
    kid: str
    key: KeyEntry


class VerifiedTokenCache:
    """A thread-safe, bounded LRU of :class:`CachedVerdict` keyed by token string.

    ``maxsize=0`` disables caching.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(0, int(maxsize))
        self._lru: LRUCache[str, CachedVerdict] | None = (
            LRUCache(maxsize=self.maxsize) if self.maxsize else None
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._lru) if self._lru is not None else 0

    def get(
        self,
        token: str,
        now: float,
        leeway: float,
        current_key: Callable[[str, float], KeyEntry | None],
    ) -> AccessToken | None:
        """The cached :class:`AccessToken` if still valid at ``now`` with the same key, else None.

        An entry whose token expired or whose key is gone is dropped.
        """
        lru = self._lru
        if lru is None:
            return None
        with self._lock:
            verdict = lru.get(token)
        if verdict is None:
            return None
        if now - leeway >= verdict.exp:
            self.discard(token)
            return None
        current = current_key(verdict.kid, now)
        if current is None:
            return None  # keys unusable or due for a refresh: verify in full
        if current is not verdict.key:
            self.discard(token)  # the key left the key set or changed
            return None
        if now + leeway < verdict.nbf:
            return None
        return verdict.token

    def put(self, token: str, verdict: CachedVerdict) -> None:
        """Remember an accepted token (evicting the least recently used one when full)."""
        if self._lru is None:
            return
        with self._lock:
            self._lru[token] = verdict

    def discard(self, token: str) -> None:
        """Forget one token."""
        if self._lru is None:
            return
        with self._lock:
            self._lru.pop(token, None)

    def purge_kids(self, kids: frozenset[str]) -> int:
        """Drop every entry verified by one of ``kids`` (their key left the key set)."""
        if self._lru is None or not kids:
            return 0
        with self._lock:
            doomed = [token for token, verdict in list(self._lru.items()) if verdict.kid in kids]
            for token in doomed:
                del self._lru[token]
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        if self._lru is not None:
            with self._lock:
                self._lru.clear()
