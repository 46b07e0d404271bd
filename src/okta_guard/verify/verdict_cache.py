"""The verified-token cache: a token seen before costs a short lookup and one comparison.

Every accepted token is kept in the two forms it arrives in: the string (``verify``)
and the ``Authorization`` header's bytes, ``Bearer <token>`` (the middleware), each under
a slot made of its last :data:`KEY_BYTES` characters (the end of its RSA signature,
which only the issuer's key produces for a token that verifies).  A look-up takes the
slot of the form it is given and compares the whole value in that same form, so it
never converts, slices, copies or hashes the ~700-byte token.  Each
:class:`CachedVerdict` also holds the :class:`~okta_guard.models.AccessToken`, its
``exp``/``nbf`` and the :class:`~okta_guard.verify.keyset.KeyEntry` (with its ``kid``)
that verified it.  Time and key are re-checked on every hit, so a verdict never outlives its
token or its key.  Memory is bounded: ``maxsize`` verdicts, evicted oldest first with a
second chance for those hit since.  Only accepted tokens are cached, so a flood of junk
evicts nobody; two accepted tokens with the same tail simply take turns in one slot.

It is a plain ``dict`` rather than a ``cachetools`` cache or an ``OrderedDict`` (whose
``get`` alone costs twice a ``dict``'s): a hit is a few C calls, well under a
microsecond, and needs no lock (writes take one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from okta_guard.models import AccessToken
from okta_guard.verify.keyset import KeyEntry, KeyLease

__all__ = ["BEARER_PREFIX", "KEY_BYTES", "CachedVerdict", "KeyCheck", "VerifiedTokenCache"]

#: How many trailing characters of a token key its slots (16 base64url characters: 96 bits
#: of RSA signature).
KEY_BYTES = 16
#: What precedes the token in the header form of a verdict.
BEARER_PREFIX = b"Bearer "
_PREFIX_LEN = len(BEARER_PREFIX)

#: ``(kid, now) -> KeyEntry | None``: a key lookup of the key cache.
KeyCheck = Callable[[str, float], "KeyEntry | None"]


class CachedVerdict:
    """One accepted token (as text and as its header's bytes): the result and what it
    depended on.

    ``since <= now < until`` is its validity in time, leeway included; ``lease`` is its
    key's :class:`~okta_guard.verify.keyset.KeyLease`.  ``hits`` counts the look-ups it
    answered (``seen``: as many as at the last eviction sweep, for the second chance).
    """

    __slots__ = ("header", "hits", "key", "lease", "seen", "since", "text", "token", "until")

    def __init__(
        self,
        text: str,
        header: bytes,
        token: AccessToken,
        since: float,
        until: float,
        key: KeyEntry,
    ) -> None:
        self.text = text
        self.header = header
        self.token = token
        self.since = since
        self.until = until
        self.key = key
        self.lease: KeyLease = key.lease
        self.hits = 0
        self.seen = 0

    def __repr__(self) -> str:  # never the token itself
        return f"CachedVerdict(kid={self.key.kid!r}, since={self.since!r}, until={self.until!r})"


def _same(verdict: CachedVerdict, token: str | bytes) -> bool:
    """Whether ``token`` is the verdict's token, compared in its own form.

    A ``str`` is the bare token; ``bytes`` are the header value ``Bearer <token>`` or,
    rarely, the bare token's bytes.
    """
    if type(token) is str:
        return verdict.text == token
    header = verdict.header
    return header == token or (
        len(token) == len(header) - _PREFIX_LEN and header[_PREFIX_LEN:] == token
    )


class VerifiedTokenCache:
    """A thread-safe, bounded cache of :class:`CachedVerdict`, looked up by ``str`` or ``bytes``.

    Args:
        maxsize: how many verdicts to keep (``0`` disables caching).
        leeway: the clock skew allowed on ``exp`` and ``nbf``, in seconds.
        current_key: the key cache's careful lookup of a usable key (``None`` when the
            keys are unusable or a refresh is due), consulted when a verdict's key lease
            has ended.
        clock: the time source for :meth:`lookup` calls without ``now``.
    """

    def __init__(
        self,
        maxsize: int,
        *,
        leeway: float = 0.0,
        current_key: KeyCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.maxsize = max(0, int(maxsize))
        self.leeway = leeway
        self._current_key: KeyCheck = current_key or _no_key
        self._clock = clock
        # Two slots per verdict: text[-KEY_BYTES:] (a str) and header[-KEY_BYTES:] (bytes).
        self._entries: dict[str | bytes, CachedVerdict] = {}
        self._verdicts = 0
        self._retired_hits = 0  # hits of verdicts no longer cached
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._verdicts

    @property
    def hits(self) -> int:
        """Look-ups answered from the cache since it was made (each verdict counts its own
        hits without a lock: under heavy thread contention this may undercount slightly)."""
        with self._lock:
            return self._retired_hits + self._live_hits()

    def _live_hits(self) -> int:
        """The hits of the cached verdicts, each counted once (it has two slots)."""
        return sum({id(v): v.hits for v in self._entries.values()}.values())

    def find(self, token: str | bytes) -> CachedVerdict | None:
        """The verdict cached for exactly ``token``, if any (lock-free; no validity check)."""
        verdict = self._entries.get(token[-KEY_BYTES:])
        if verdict is not None and _same(verdict, token):
            return verdict
        return None

    def lookup(self, token: object, now: float | None = None) -> AccessToken | None:
        """The cached :class:`AccessToken` if still valid (at ``now``, default the clock's
        time) with the same key, else ``None``; never raises.

        ``token`` is the bare token (``str``), the ``Authorization`` header value
        ``Bearer <token>`` (``bytes``) or the bare token's bytes; anything else misses.
        Still valid means: not expired, past its ``nbf`` (both with the leeway), and its
        key still the current key for its ``kid`` (its lease running, else asked of the
        key cache).  An entry whose token expired or whose key is gone is dropped.
        """
        # A miss is a dictionary miss, not an exception: it starts every first sight.
        if type(token) is bytes:
            verdict = self._entries.get(token[-KEY_BYTES:])
            if verdict is None or (verdict.header != token and not _same(verdict, token)):
                return None
        elif type(token) is str:
            verdict = self._entries.get(token[-KEY_BYTES:])
            if verdict is None or verdict.text != token:
                return None
        else:
            return None  # not a token at all
        if now is None:
            now = self._clock()
        in_time = verdict.since <= now < verdict.until
        if in_time and now < verdict.lease.until:
            verdict.hits += 1
            return verdict.token
        # Anything else (expired, key gone, lease over: stale key set, refresh due): the
        # careful check.
        if now >= verdict.until:
            self._drop(verdict)
            return None
        current = self._current_key(verdict.key.kid, now)
        if current is None:
            return None  # keys unusable or due for a refresh: verify in full
        if current is not verdict.key:
            self._drop(verdict)  # the key left the key set or changed
            return None
        if not in_time:
            return None  # not valid yet (nbf)
        verdict.hits += 1
        return verdict.token

    def verdict(
        self, text: str, token: AccessToken, exp: float, nbf: float, key: KeyEntry
    ) -> CachedVerdict:
        """The verdict for the accepted token ``text`` (its header form and its validity in
        time, with this cache's leeway, are derived here)."""
        header = BEARER_PREFIX + text.encode("ascii")
        return CachedVerdict(text, header, token, nbf - self.leeway, exp + self.leeway, key)

    def put(self, verdict: CachedVerdict) -> None:
        """Remember an accepted token (evicting old entries when full)."""
        if not self.maxsize:
            return
        entries = self._entries
        # The two slots, as _slots() gives them, written out: put runs once per first-sight
        # token (with the slot loops below, ~0.1 us less per token).
        text_slot, header_slot = verdict.text[-KEY_BYTES:], verdict.header[-KEY_BYTES:]
        # acquire/release rather than ``with``: ~0.1 us less per call on CPython 3.11.
        lock = self._lock
        lock.acquire()
        try:
            # The same token again, or another with the same tail: it leaves both its slots.
            present = entries.get(text_slot)
            if present is not None:
                self._unlink(present)
            present = entries.get(header_slot)
            if present is not None:
                self._unlink(present)
            entries[text_slot] = entries[header_slot] = verdict
            self._verdicts += 1
            if self._verdicts > self.maxsize:
                self._evict()
        finally:
            lock.release()

    def _evict(self) -> None:
        """Drop the oldest verdicts until ``maxsize`` are left; a verdict hit since the last
        sweep gets a second chance (the lock is held)."""
        entries = self._entries
        while self._verdicts > self.maxsize:
            old = entries[next(iter(entries))]
            if old.hits != old.seen:  # used since last looked at: a second chance
                old.seen = old.hits
                for slot in _slots(old):
                    entries[slot] = entries.pop(slot)
            else:
                self._unlink(old)

    def _unlink(self, verdict: CachedVerdict) -> None:
        """Drop ``verdict`` from both its slots, if it is still there (the lock is held)."""
        slots = _slots(verdict)
        if self._entries.get(slots[0]) is not verdict:
            return
        for slot in slots:
            del self._entries[slot]
        self._verdicts -= 1
        self._retired_hits += verdict.hits

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
            doomed = {id(v): v for v in list(self._entries.values()) if v.key.kid in kids}
            for verdict in doomed.values():
                self._unlink(verdict)
        return len(doomed)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._retired_hits += self._live_hits()
            self._entries.clear()
            self._verdicts = 0


def _slots(verdict: CachedVerdict) -> tuple[str, bytes]:
    return verdict.text[-KEY_BYTES:], verdict.header[-KEY_BYTES:]


def _no_key(kid: str, now: float) -> KeyEntry | None:
    return None
