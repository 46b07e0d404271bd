"""The verified-token cache: a token seen before costs a short lookup and one comparison.

Entries are keyed by the last :data:`KEY_BYTES` bytes of the token (the end of its
signature, which only the issuer's key can produce for a token that verifies) and
hold the whole token, compared on every hit, so a look-up never hashes the
~700-byte token.  Each :class:`CachedVerdict` also holds the
:class:`~okta_guard.models.AccessToken`, its ``exp``/``nbf``, its ``kid`` and the
:class:`~okta_guard.verify.keyset.KeyEntry` that verified it.  Time and key are
re-checked on every hit (:meth:`VerifiedTokenCache.get` takes the current key for
the kid and compares by identity), so a verdict never outlives its token or its
key.  Memory is bounded: ``maxsize`` entries, evicted oldest first (second chance).  Only
accepted tokens are cached, so a flood of junk evicts nobody; two accepted tokens
with the same tail simply take turns in one slot.

It is a plain ``dict`` rather than a ``cachetools`` cache: a hit is a few C calls,
well under a microsecond, and needs no lock (writes take one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from okta_guard.models import AccessToken
from okta_guard.verify.keyset import KeyEntry

__all__ = ["KEY_BYTES", "CachedVerdict", "VerifiedTokenCache"]

#: How many trailing bytes of a token key its entry (16 base64url characters: 96 bits
#: of RSA signature).
KEY_BYTES = 16


class CachedVerdict(NamedTuple):
    """One accepted token: the result and what it depended on."""

    raw: bytes
    token: AccessToken
    exp: float
    nbf: float
    kid: str
    key: KeyEntry


class VerifiedTokenCache:
    """A thread-safe, bounded cache of :class:`CachedVerdict` for tokens given as ASCII bytes.

    Eviction is *second chance* (an approximation of least-recently-used): the oldest
    entry goes, unless it was hit since it was last looked at, in which case it moves
    to the back once.  A hit only adds its slot to a set, which is cheaper than
    reordering an ``OrderedDict`` (whose ``get`` alone costs twice a ``dict``'s).
    ``maxsize=0`` disables caching.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(0, int(maxsize))
        self._entries: dict[bytes, CachedVerdict] = {}
        self._hit: set[bytes] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, raw: bytes) -> CachedVerdict | None:
        """The verdict cached for exactly ``raw``, if any (lock-free; no validity check)."""
        verdict = self._entries.get(raw[-KEY_BYTES:])
        if verdict is not None and verdict.raw == raw:
            return verdict
        return None

    def get(
        self,
        raw: bytes,
        now: float,
        leeway: float,
        fresh_key: Callable[[str, float], KeyEntry | None],
        current_key: Callable[[str, float], KeyEntry | None],
    ) -> AccessToken | None:
        """The cached :class:`AccessToken` if still valid at ``now`` with the same key, else None.

        ``fresh_key(kid, now)`` is the lock-free key lookup of a fresh key set (``None``
        when a refresh is due); ``current_key(kid, now)`` the careful one, consulted only
        when that fails.  An entry whose token expired or whose key is gone is dropped.
        """
        slot = raw[-KEY_BYTES:]
        verdict = self._entries.get(slot)
        if verdict is None or verdict.raw != raw:
            return None
        in_time = now - leeway < verdict.exp and now + leeway >= verdict.nbf
        if in_time and fresh_key(verdict.kid, now) is verdict.key:
            self._hit.add(slot)
            return verdict.token
        # Anything else (expired, key gone, stale key set, refresh due): the careful check.
        if now - leeway >= verdict.exp:
            self.discard(raw)
            return None
        current = current_key(verdict.kid, now)
        if current is None:
            return None  # keys unusable or due for a refresh: verify in full
        if current is not verdict.key:
            self.discard(raw)  # the key left the key set or changed
            return None
        if not in_time:
            return None  # not valid yet (nbf)
        self._hit.add(slot)
        return verdict.token

    def put(self, verdict: CachedVerdict) -> None:
        """Remember an accepted token (evicting old entries when full)."""
        if not self.maxsize:
            return
        entries, hit = self._entries, self._hit
        with self._lock:
            entries[verdict.raw[-KEY_BYTES:]] = verdict
            while len(entries) > self.maxsize:
                oldest = next(iter(entries))
                if oldest in hit:  # used since it was last looked at: a second chance
                    hit.discard(oldest)
                    entries[oldest] = entries.pop(oldest)
                else:
                    del entries[oldest]

    def discard(self, raw: bytes) -> None:
        """Forget ``raw`` (and nothing else: another token sharing its slot stays)."""
        slot = raw[-KEY_BYTES:]
        with self._lock:
            verdict = self._entries.get(slot)
            if verdict is not None and verdict.raw == raw:
                del self._entries[slot]
                self._hit.discard(slot)

    def purge_kids(self, kids: frozenset[str]) -> int:
        """Drop every entry verified by one of ``kids`` (their key left the key set)."""
        if not kids:
            return 0
        with self._lock:
            # A snapshot first: lock-free hits may run meanwhile.
            snapshot = list(self._entries.items())
            doomed = [slot for slot, verdict in snapshot if verdict.kid in kids]
            for slot in doomed:
                self._entries.pop(slot, None)
                self._hit.discard(slot)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._hit.clear()
