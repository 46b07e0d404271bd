"""The verified-token cache: a token seen before costs a short lookup and one comparison.

Every accepted token is kept in both forms it arrives in, the string (``verify``) and
the header's ASCII bytes (the middleware), under two slots: the last :data:`KEY_BYTES`
characters of each form (the end of its RSA signature, which only the issuer's key
produces for a token that verifies).  A look-up takes the slot of the form it is
given and compares the whole token in that same form, so it never converts, copies
or hashes the ~700-byte token.  Each :class:`CachedVerdict` also holds the
:class:`~okta_guard.models.AccessToken`, its ``exp``/``nbf``, its ``kid`` and the
:class:`~okta_guard.verify.keyset.KeyEntry` that verified it.  Time and key are
re-checked on every hit, so a verdict never outlives its token or its key.  Memory is
bounded: ``maxsize`` verdicts, evicted oldest first with a second chance for those hit
since.  Only accepted tokens are cached, so a flood of junk evicts nobody; two accepted
tokens with the same tail simply take turns in one slot.

It is a plain ``dict`` rather than a ``cachetools`` cache or an ``OrderedDict`` (whose
``get`` alone costs twice a ``dict``'s): a hit is a few C calls, well under a
microsecond, and needs no lock (writes take one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from okta_guard.models import AccessToken
from okta_guard.verify.keyset import KeyEntry

__all__ = ["KEY_BYTES", "CachedVerdict", "VerifiedTokenCache"]

#: How many trailing characters of a token key its slots (16 base64url characters: 96 bits
#: of RSA signature).
KEY_BYTES = 16


class CachedVerdict(NamedTuple):
    """One accepted token (as text and as bytes): the result and what it depended on."""

    text: str
    raw: bytes
    token: AccessToken
    exp: float
    nbf: float
    kid: str
    key: KeyEntry


def _same(verdict: CachedVerdict, token: str | bytes) -> bool:
    """Whether ``token`` is the verdict's token, compared in its own form (str or bytes)."""
    return verdict.raw == token if type(token) is bytes else verdict.text == token


class VerifiedTokenCache:
    """A thread-safe, bounded cache of :class:`CachedVerdict`, looked up by ``str`` or ``bytes``.

    ``maxsize=0`` disables caching.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(0, int(maxsize))
        # Two slots per verdict: text[-KEY_BYTES:] (a str) and raw[-KEY_BYTES:] (bytes).
        self._entries: dict[str | bytes, CachedVerdict] = {}
        self._hit: set[str | bytes] = set()
        self._verdicts = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._verdicts

    def find(self, token: str | bytes) -> CachedVerdict | None:
        """The verdict cached for exactly ``token``, if any (lock-free; no validity check)."""
        verdict = self._entries.get(token[-KEY_BYTES:])
        if verdict is not None and _same(verdict, token):
            return verdict
        return None

    def get(
        self,
        token: str | bytes,
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
        slot = token[-KEY_BYTES:]
        verdict = self._entries.get(slot)
        if verdict is None or (verdict.raw if type(token) is bytes else verdict.text) != token:
            return None
        in_time = now - leeway < verdict.exp and now + leeway >= verdict.nbf
        if in_time and fresh_key(verdict.kid, now) is verdict.key:
            self._hit.add(slot)
            return verdict.token
        # Anything else (expired, key gone, stale key set, refresh due): the careful check.
        if now - leeway >= verdict.exp:
            self._drop(verdict)
            return None
        current = current_key(verdict.kid, now)
        if current is None:
            return None  # keys unusable or due for a refresh: verify in full
        if current is not verdict.key:
            self._drop(verdict)  # the key left the key set or changed
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
        slots = (verdict.text[-KEY_BYTES:], verdict.raw[-KEY_BYTES:])
        with self._lock:
            for slot in slots:  # the same token again, or another with the same tail
                present = entries.get(slot)
                if present is not None:
                    self._unlink(present)
            for slot in slots:
                entries[slot] = verdict
            self._verdicts += 1
            while self._verdicts > self.maxsize:
                old = entries[next(iter(entries))]
                old_slots = (old.text[-KEY_BYTES:], old.raw[-KEY_BYTES:])
                if hit.intersection(old_slots):  # used since last looked at: a second chance
                    hit.difference_update(old_slots)
                    for slot in old_slots:
                        entries[slot] = entries.pop(slot)
                else:
                    self._unlink(old)

    def _unlink(self, verdict: CachedVerdict) -> None:
        """Drop ``verdict`` from both its slots, if it is still there (the lock is held)."""
        slots = (verdict.text[-KEY_BYTES:], verdict.raw[-KEY_BYTES:])
        if self._entries.get(slots[0]) is not verdict:
            return
        for slot in slots:
            del self._entries[slot]
            self._hit.discard(slot)
        self._verdicts -= 1

    def _drop(self, verdict: CachedVerdict) -> None:
        with self._lock:
            self._unlink(verdict)

    def discard(self, token: str | bytes) -> None:
        """Forget ``token`` (and nothing else: another token sharing a slot stays)."""
        with self._lock:
            verdict = self.find(token)
            if verdict is not None:
                self._unlink(verdict)

    def purge_kids(self, kids: frozenset[str]) -> int:
        """Drop every entry verified by one of ``kids`` (their key left the key set)."""
        if not kids:
            return 0
        with self._lock:
            # A snapshot first: lock-free hits may run meanwhile.
            doomed = {id(v): v for v in list(self._entries.values()) if v.kid in kids}
            for verdict in doomed.values():
                self._unlink(verdict)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._hit.clear()
            self._verdicts = 0
