"""The verified-token cache: a token seen before costs a dictionary lookup.

Entries are keyed by the exact token string and hold the
:class:`~okta_guard.models.AccessToken`, its ``exp``/``nbf``, its ``kid`` and
the :class:`~okta_guard.verify.keyset.KeyEntry` that verified it.  Time and key are
re-checked on every hit (:meth:`VerifiedTokenCache.get` takes the current key
for the kid and compares by identity), so a verdict never outlives its token
or its key.  Memory is bounded: a least-recently-used map of ``maxsize``
entries.  Only accepted tokens are cached, so a flood of junk evicts nobody.

It is a thin LRU over :class:`collections.OrderedDict` rather than a
``cachetools`` cache: every operation is a single C call, so a hit costs well
under a microsecond and needs no lock (writes take one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from okta_guard.models import AccessToken
from okta_guard.verify.keyset import KeyEntry

__all__ = ["CachedVerdict", "VerifiedTokenCache"]


class CachedVerdict(NamedTuple):
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
        self._entries: OrderedDict[str, CachedVerdict] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def entries(self) -> OrderedDict[str, CachedVerdict]:
        """The map itself, for the verifier's lock-free hit path: ``entries.get(token)`` and
        ``entries.move_to_end(token)`` (both single C calls).  Anything else goes through
        the methods, which take the lock."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

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
        verdict = self._entries.get(token)
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
        try:  # noqa: SIM105 - a bare try is cheaper than contextlib.suppress on the hot path
            self._entries.move_to_end(token)
        except KeyError:  # evicted by another thread meanwhile; the verdict still holds
            pass
        return verdict.token

    def put(self, token: str, verdict: CachedVerdict) -> None:
        """Remember an accepted token (evicting the least recently used ones when full)."""
        if not self.maxsize:
            return
        entries = self._entries
        with self._lock:
            entries[token] = verdict
            while len(entries) > self.maxsize:
                entries.popitem(last=False)

    def discard(self, token: str) -> None:
        """Forget one token."""
        with self._lock:
            self._entries.pop(token, None)

    def purge_kids(self, kids: frozenset[str]) -> int:
        """Drop every entry verified by one of ``kids`` (their key left the key set)."""
        if not kids:
            return 0
        with self._lock:
            # A snapshot first: lock-free hits may reorder the map meanwhile.
            snapshot = list(self._entries.items())
            doomed = [token for token, verdict in snapshot if verdict.kid in kids]
            for token in doomed:
                self._entries.pop(token, None)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
