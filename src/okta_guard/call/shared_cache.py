"""Service tokens shared through a :class:`~okta_guard.store.Store`: the client's slot and the
I/O shells of the fleet single flight.

``TokenClient(..., store=store)`` puts a :class:`SharedTokens` behind its
process-local token cache.  A fresh local token never touches the store; only the
one leader that the local cache elects per process runs
:func:`~okta_guard.call.shared_policy.shared_fetch_flow`, driven here by
:func:`drive_shared` or :func:`drive_shared_async`.

What the store sees - hashed keys, sealed values - is decided in
:mod:`okta_guard.call.shared_seal`; an entry that fails to open is ignored and the
leader fetches and overwrites it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from okta_guard._flight import running_loop
from okta_guard.call.auth_methods import PrivateKeyInput
from okta_guard.call.policy import CachedToken, CacheKey, Fatal, Success
from okta_guard.call.shared_policy import (
    FetchToken,
    Pause,
    SharedFlow,
    SharedStats,
    StoreFailure,
    StoreGet,
    StoreHealth,
    StoreLock,
    StoreSet,
    StoreSettings,
    shared_fetch_flow,
)
from okta_guard.call.shared_seal import TokenSealer, credential_material, slot_id, token_digest
from okta_guard.errors import ConfigurationError
from okta_guard.models import ServiceToken
from okta_guard.store import Store

__all__ = ["SharedTokens", "build_shared", "drive_shared", "drive_shared_async"]

logger = logging.getLogger("okta_guard.call.shared")


class _Slot:
    """The store keys and the sealer of one cache key."""

    __slots__ = ("lock", "sealer", "slot")

    def __init__(self, key: CacheKey, material: bytes, thumbprint: str | None) -> None:
        digest = slot_id(key, thumbprint)
        self.slot = f"token:{digest}"
        self.lock = f"token-lock:{digest}"
        self.sealer = TokenSealer(material, digest)


class SharedTokens:
    """One client's use of a shared store: slots, sealers, settings, health and counters.

    A client's cache key can change (e.g. once it switches to DPoP), so the slot is
    looked up per key; :attr:`slot` / :attr:`lock` are those of the key given here.
    """

    def __init__(
        self,
        store: Store,
        key: CacheKey,
        *,
        material: bytes,
        thumbprint: str | None = None,
        settings: StoreSettings | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        for name in ("get", "set", "lock", "unlock", "delete", "get_async", "lock_async"):
            if not callable(getattr(store, name, None)):
                raise ConfigurationError(
                    f"store= needs a Store (okta_guard.store); {type(store).__name__} has no "
                    f"{name}()."
                )
        self.store = store
        self.settings = settings or StoreSettings()
        self._material = material
        self._thumbprint = thumbprint
        self._slots: dict[CacheKey, _Slot] = {}
        first = self._slot(key)
        self.slot, self.lock = first.slot, first.lock
        self._clock = clock
        self._monotonic = monotonic
        self.health = StoreHealth(self.settings.retry_after)
        self.stats = SharedStats()
        # Tokens this process was told are bad (an API answered 401): never taken from the
        # store again, whatever another process stored.  Hashes only; the newest few.
        self._rejected: collections.deque[bytes] = collections.deque(maxlen=16)
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"SharedTokens(store={self.store!r}, slot={self.slot!r})"

    def _slot(self, key: CacheKey) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) > 16:  # a client has one key, two around a DPoP switch
                self._slots.clear()
            slot = self._slots[key] = _Slot(key, self._material, self._thumbprint)
        return slot

    def lock_for(self, key: CacheKey) -> str:
        """The store key of the fleet lock of ``key``."""
        return self._slot(key).lock

    def _opener(self, sealer: TokenSealer) -> Callable[[bytes | None], CachedToken | None]:
        def open_entry(value: bytes | None) -> CachedToken | None:
            return self._open(sealer, value)

        return open_entry

    def reject(self, token: ServiceToken) -> None:
        """Never take ``token`` from the store again (this process found it refused)."""
        self._rejected.append(token_digest(token))

    def _open(self, sealer: TokenSealer, value: bytes | None) -> CachedToken | None:
        entry = sealer.open(value)
        if entry is not None and token_digest(entry.token) in self._rejected:
            return None  # the leader fetches a new token and replaces it
        if entry is None and value is not None:
            self.stats.bump("rejected_entries")
            logger.warning(
                "Ignoring a shared token entry that failed authentication (altered, or sealed "
                "with other credentials); fetching a new token."
            )
        return entry

    def flow(
        self,
        key: CacheKey,
        to_entry: Callable[[Success], CachedToken],
        wait_bound: float | None = None,
    ) -> SharedFlow:
        """A fresh :func:`~okta_guard.call.shared_policy.shared_fetch_flow` for ``key``."""
        slot = self._slot(key)
        settings = self.settings
        if wait_bound is not None and wait_bound < settings.wait:
            settings = dataclasses.replace(settings, wait=max(0.0, wait_bound))
        return shared_fetch_flow(
            slot=slot.slot,
            lock=slot.lock,
            open_entry=self._opener(slot.sealer),
            seal_entry=slot.sealer.seal,
            to_entry=to_entry,
            clock=self._clock,
            monotonic=self._monotonic,
            settings=settings,
            health=self.health,
            stats=self.stats,
            shareable=_shareable_in(key),
        )

    def forget(self, key: CacheKey, token: ServiceToken | None) -> None:
        """The client was told to forget ``token`` (or, with ``None``, whatever it has).

        A given token is only :meth:`reject`-ed: this process's next leader ignores it in
        the store and overwrites it with the token it fetches, which every other process
        then picks up.  Without a token (``force_refresh``) the shared entry is deleted;
        store errors are counted and set the store aside.  Inside a running event loop
        the delete runs in a task rather than blocking the loop.
        """
        if token is not None or not self.health.available(self._monotonic()):
            return
        loop = running_loop()
        if loop is not None:
            task = loop.create_task(self.forget_async(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            self.store.delete(self._slot(key).slot)
        except Exception as exc:
            self.stats.bump("store_errors")
            self.health.failed(self._monotonic(), exc)

    async def forget_async(self, key: CacheKey) -> None:
        """Delete the shared entry of ``key`` (see :meth:`forget`)."""
        try:
            await self.store.delete_async(self._slot(key).slot)
        except Exception as exc:
            self.stats.bump("store_errors")
            self.health.failed(self._monotonic(), exc)


def _shareable_in(key: CacheKey) -> Callable[[CachedToken], bool]:
    """A DPoP-bound token goes only to a slot keyed by its proof key's thumbprint (a client
    that switched to DPoP during the fetch must not share it under its Bearer slot)."""

    def shareable(entry: CachedToken) -> bool:
        return key.dpop_jkt is not None or entry.token.token_type.lower() != "dpop"

    return shareable


def drive_shared(
    shared: SharedTokens,
    key: CacheKey,
    fetch: Callable[[], Success | Fatal],
    to_entry: Callable[[Success], CachedToken],
    *,
    wait_bound: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CachedToken | Fatal:
    """Run one shared fetch with blocking store calls; ``fetch`` asks Okta.

    ``wait_bound`` caps the wait for another process's request (the caller's deadline).
    """
    store = shared.store
    flow = shared.flow(key, to_entry, wait_bound)
    owner: str | None = None
    try:
        op = next(flow)
        while True:
            if isinstance(op, FetchToken):
                try:
                    outcome = fetch()
                except BaseException:
                    _release_sync(store, shared.lock_for(key), owner)
                    raise
                op = flow.send(outcome)
                continue
            if isinstance(op, Pause):
                sleep(op.seconds)
                op = flow.send(None)
                continue
            try:
                reply: bytes | str | bool | None
                if isinstance(op, StoreGet):
                    reply = store.get(op.key)
                elif isinstance(op, StoreLock):
                    reply = owner = store.lock(op.key, op.ttl)
                elif isinstance(op, StoreSet):
                    store.set(op.key, op.value, op.ttl)
                    reply = None
                else:
                    reply = store.unlock(op.key, op.owner)
                    owner = None
            except Exception as exc:
                op = flow.throw(StoreFailure(exc))
                continue
            op = flow.send(reply)
    except StopIteration as stop:
        result: CachedToken | Fatal = stop.value
    return result


async def drive_shared_async(
    shared: SharedTokens,
    key: CacheKey,
    fetch: Callable[[], Awaitable[Success | Fatal]],
    to_entry: Callable[[Success], CachedToken],
    *,
    wait_bound: float | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> CachedToken | Fatal:
    """Run one shared fetch with awaited store calls; ``fetch`` asks Okta."""
    pause = sleep or asyncio.sleep
    store = shared.store
    flow = shared.flow(key, to_entry, wait_bound)
    owner: str | None = None
    try:
        op = next(flow)
        while True:
            if isinstance(op, FetchToken):
                try:
                    outcome = await fetch()
                except BaseException:
                    await _release_async(store, shared.lock_for(key), owner)
                    raise
                op = flow.send(outcome)
                continue
            if isinstance(op, Pause):
                await pause(op.seconds)
                op = flow.send(None)
                continue
            try:
                reply: bytes | str | bool | None
                if isinstance(op, StoreGet):
                    reply = await store.get_async(op.key)
                elif isinstance(op, StoreLock):
                    reply = owner = await store.lock_async(op.key, op.ttl)
                elif isinstance(op, StoreSet):
                    await store.set_async(op.key, op.value, op.ttl)
                    reply = None
                else:
                    reply = await store.unlock_async(op.key, op.owner)
                    owner = None
            except Exception as exc:
                op = flow.throw(StoreFailure(exc))
                continue
            op = flow.send(reply)
    except StopIteration as stop:
        result: CachedToken | Fatal = stop.value
    return result


def _release_sync(store: Store, lock: str, owner: str | None) -> None:
    """The fetch was interrupted: free the fleet lock at once rather than at its expiry."""
    if owner is not None:
        try:
            store.unlock(lock, owner)
        except Exception:  # best effort: the lock expires anyway
            logger.debug("Could not release the shared token lock.", exc_info=True)


async def _release_async(store: Store, lock: str, owner: str | None) -> None:
    if owner is not None:
        try:
            await store.unlock_async(lock, owner)
        except Exception:  # best effort: the lock expires anyway
            logger.debug("Could not release the shared token lock.", exc_info=True)


def build_shared(
    store: Store | None,
    key: CacheKey,
    *,
    client_secret: str | None,
    private_key: PrivateKeyInput | None,
    encryption_key: bytes | str | None,
    settings: StoreSettings | None,
    clock: Callable[[], float],
    thumbprint: str | None = None,
) -> SharedTokens | None:
    """The :class:`SharedTokens` of a client built with ``store=``, or ``None`` without one.

    The sealing key comes from ``encryption_key`` (at least 16 bytes) when given,
    else from the client's secret or private key.
    """
    if store is None:
        if encryption_key is not None or settings is not None:
            raise ConfigurationError("encryption_key and store_settings go with store=.")
        return None
    if encryption_key is not None:
        raw = encryption_key.encode() if isinstance(encryption_key, str) else encryption_key
        if not isinstance(raw, bytes) or len(raw) < 16:
            raise ConfigurationError(
                "encryption_key must be at least 16 bytes (e.g. secrets.token_bytes(32)), the "
                "same in every process sharing the store."
            )
        material = b"explicit:" + raw
    else:
        material = credential_material(client_secret, private_key)
    return SharedTokens(
        store, key, material=material, thumbprint=thumbprint, settings=settings, clock=clock
    )
