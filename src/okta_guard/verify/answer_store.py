"""Where introspection answers are kept: the store protocol, the in-process LRU, the entries.

A :class:`~okta_guard.verify.revocation.RevocationCheck` keeps each answer it gets as a
:class:`StoredAnswer` (the answer and when it was obtained) through :class:`AnswerSlots`,
its view of the store:

* the default :class:`MemoryAnswerStore`, a bounded in-process LRU, holds parsed
  answers keyed by the token itself (it is in memory anyway, as in the verdict cache):
  no hashing, no serialisation per request;
* any other store (``get``/``set`` and their ``_async`` forms, like the shared stores
  of :mod:`okta_guard.store`) sees a SHA-256 key per issuer and token (no token is
  ever stored) and sealed bytes (:class:`okta_guard._seal.Sealer`, AES-256-GCM under a
  key from the introspection client's credentials, bound to the key): whoever can
  write to the store cannot make a revoked token active.  An entry that does not open
  is a miss, and so is a store that raises, or an async one slower than ``timeout``:
  the caller asks the authorization server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from okta_guard._seal import Sealer
from okta_guard.errors import ConfigurationError
from okta_guard.verify.introspection import IntrospectionAnswer

__all__ = ["AnswerSlots", "AnswerStore", "MemoryAnswerStore", "StoredAnswer"]

logger = logging.getLogger("okta_guard.verify.revocation")

_KEY_PREFIX = "okta-guard:introspection:"


class AnswerStore(Protocol):
    """Where introspection answers are kept (the ``get``/``set`` half of the shared store
    protocol; values are opaque bytes, ``ttl`` in seconds)."""

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> object:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...

    async def get_async(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        ...

    async def set_async(self, key: str, value: bytes, ttl: float) -> object:
        """Async :meth:`set`."""
        ...


class MemoryAnswerStore:
    """An in-process, thread-safe, bounded LRU store with per-entry expiry."""

    def __init__(self, maxsize: int = 10_000, *, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ConfigurationError("The answer store's maxsize must be a positive integer.")
        self.maxsize = maxsize
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        """The live value under ``key`` (expired entries are dropped)."""
        value = self.get_object(key)
        return value if isinstance(value, bytes) else None

    def get_object(self, key: str) -> object | None:
        """Like :meth:`get` for any value (the in-process fast path keeps parsed answers)."""
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            if item[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return item[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used when full."""
        self.set_object(key, value, ttl)

    def set_object(self, key: str, value: object, ttl: float) -> None:
        """Like :meth:`set` for any value."""
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    async def get_async(self, key: str) -> bytes | None:
        """Same as :meth:`get` (no I/O)."""
        return self.get(key)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """Same as :meth:`set` (no I/O)."""
        self.set(key, value, ttl)


class StoredAnswer:
    """An introspection answer and when it was obtained (epoch seconds)."""

    __slots__ = ("answer", "checked_at")

    def __init__(self, answer: IntrospectionAnswer, checked_at: float) -> None:
        self.answer = answer
        self.checked_at = checked_at

    def dumps(self) -> bytes:
        """The entry as compact JSON bytes: the RFC 7662 answer and ``okta_guard_checked_at``."""
        doc = self.answer.to_json()
        doc["okta_guard_checked_at"] = self.checked_at
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, raw: object) -> StoredAnswer | None:
        """Read stored bytes; anything malformed is ``None``."""
        if not isinstance(raw, bytes | str):
            return None
        try:
            doc = json.loads(raw)
            checked_at = doc.pop("okta_guard_checked_at")
            if isinstance(checked_at, bool) or not isinstance(checked_at, int | float):
                return None
            return cls(IntrospectionAnswer.from_json(doc), float(checked_at))
        except Exception:
            return None


class AnswerSlots:
    """One issuer's answers in a store: the slot of a token, reads and writes (sync and async).

    A shared store needs ``sealer`` (the introspection client's
    :attr:`~okta_guard.verify.introspection.SealingIntrospector.answer_sealer`): every
    value is sealed and bound to its key, and one that does not open - altered, copied
    from another token's key, sealed with other credentials, or written in plain text -
    is a miss, logged at warning.  ``timeout`` bounds an async caller's wait for a shared
    store (a read or a write); sync callers rely on the store's own timeouts
    (:class:`okta_guard.redis.RedisStore` sets short socket timeouts).
    """

    def __init__(
        self, store: AnswerStore, issuer: str, *, timeout: float, sealer: Sealer | None
    ) -> None:
        self.store = store
        self.timeout = timeout
        self._local = store if isinstance(store, MemoryAnswerStore) else None
        self._sealer: Sealer | None = None
        if self._local is None:
            if sealer is None:
                raise ConfigurationError(
                    "A shared introspection store keeps answers sealed with the introspection "
                    "client's credentials: pass introspection=IntrospectionClient(...) (a custom "
                    "introspector must provide answer_sealer), or leave introspection_store unset "
                    "for the in-process store."
                )
            self._sealer = sealer
        self._prefix = f"{_KEY_PREFIX}{hashlib.sha256(issuer.encode()).hexdigest()[:16]}:"

    def key(self, token: str) -> str:
        """The shared-store key of ``token`` (a hash: the token itself is never stored there)."""
        return self._prefix + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def slot(self, token: str) -> str:
        """Where ``token``'s answer lives: the token itself in process, else its hashed key."""
        return token if self._local is not None else self.key(token)

    def _seal(self, slot: str, entry: StoredAnswer) -> bytes:
        sealer = self._sealer
        if sealer is None:  # pragma: no cover - a shared store always has one
            raise ConfigurationError("no sealer for a shared introspection store")
        return sealer.seal(entry.dumps(), slot.encode())

    def _open(self, slot: str, raw: object) -> StoredAnswer | None:
        if raw is None or self._sealer is None:
            return None
        plain = self._sealer.open(raw, slot.encode())
        entry = StoredAnswer.loads(plain) if plain is not None else None
        if entry is None:
            logger.warning(
                "okta-guard: ignoring a shared introspection answer that failed authentication "
                "(altered, moved from another key, or sealed with other credentials); asking Okta"
            )
        return entry

    def load(self, slot: str) -> StoredAnswer | None:
        """The answer in ``slot``, or ``None`` (absent, unsealable, or the store failed)."""
        if self._local is not None:
            found = self._local.get_object(slot)
            return found if isinstance(found, StoredAnswer) else None
        try:
            raw = self.store.get(slot)
        except Exception:
            logger.warning("okta-guard: the introspection store failed on read; asking Okta")
            return None
        return self._open(slot, raw)

    def save(self, slot: str, entry: StoredAnswer, ttl: float) -> None:
        """Keep ``entry`` in ``slot`` for ``ttl`` seconds (a failing store is logged only)."""
        if self._local is not None:
            self._local.set_object(slot, entry, ttl)
            return
        try:
            self.store.set(slot, self._seal(slot, entry), ttl)
        except Exception:
            logger.warning("okta-guard: the introspection store failed on write")

    async def load_async(self, slot: str) -> StoredAnswer | None:
        """Async :meth:`load`, waiting at most ``timeout`` for a shared store."""
        if self._local is not None:
            return self.load(slot)
        try:
            raw = await asyncio.wait_for(self.store.get_async(slot), self.timeout)
        except Exception:  # asyncio.TimeoutError included: a slow store is a failed one
            logger.warning("okta-guard: the introspection store failed on read; asking Okta")
            return None
        return self._open(slot, raw)

    async def save_async(self, slot: str, entry: StoredAnswer, ttl: float) -> None:
        """Async :meth:`save`, waiting at most ``timeout`` for a shared store."""
        if self._local is not None:
            self.save(slot, entry, ttl)
            return
        try:
            value = self._seal(slot, entry)
            await asyncio.wait_for(self.store.set_async(slot, value, ttl), self.timeout)
        except Exception:
            logger.warning("okta-guard: the introspection store failed on write")
