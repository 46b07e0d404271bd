"""A :class:`~okta_guard.store.Store` on Redis or Valkey, for fleets of processes and hosts.

Needs the ``redis`` extra (``pip install 'okta-guard[redis]'``, which installs
redis-py); it is imported only when a :class:`RedisStore` is built.

    from okta_guard.redis import RedisStore
    store = RedisStore("redis://redis.internal:6379/0")
    TokenClient(..., store=store)          # one token request per expiry for the fleet
    TokenVerifier(..., replay_store=store)  # a DPoP proof is accepted by one replica only

Only commands every Redis-protocol server speaks are used: ``GET``, ``SET`` with
``NX``/``PX``, ``DEL``, and for releasing a lock a three-line ``EVAL`` script
(compare the owner, then delete) so that a lock that expired and was taken by
another process is never released by the old owner.  Every key is prefixed with
``{namespace}:``.  Clients built from a URL get short socket timeouts and no
retries, so an unreachable or slow server fails a call within a fraction of a
second and the caller falls back (see ``docs/fleet.md``).
"""

from __future__ import annotations

import asyncio
import math
import threading
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from okta_guard.errors import ConfigurationError
from okta_guard.store import check_ttl, new_owner

if TYPE_CHECKING:
    import redis as _redis
    import redis.asyncio as _aredis

__all__ = ["RedisStore"]

T = TypeVar("T")

# Release a lock only if we still own it (KEYS[1] = lock, ARGV[1] = owner).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Connection settings a sync client can take from an asyncio client's pool.
_PORTABLE = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "path",
    "socket_timeout",
    "socket_connect_timeout",
    "credential_provider",
    "client_name",
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_check_hostname",
)


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisStore needs redis-py: pip install 'okta-guard[redis]'."
        ) from None
    return redis


def _millis(ttl: float) -> int:
    return max(1, math.ceil(check_ttl(ttl) * 1000))


class RedisStore:
    """A :class:`~okta_guard.store.Store` on a Redis-protocol server (Redis, Valkey).

    Args:
        url_or_client: a ``redis://`` / ``rediss://`` / ``unix://`` URL, a
            ``redis.Redis`` or a ``redis.asyncio.Redis`` client.  Sync and async
            callers are both served whatever you pass: from a URL the store builds a
            sync client and one asyncio client per event loop; a sync client serves
            coroutines from a worker thread; a sync client with the same connection
            settings is derived from an asyncio client.
        namespace: prefix of every key (``{namespace}:...``), to share one database.
        socket_timeout, connect_timeout: for the clients the store builds (seconds);
            clients you pass keep their own settings (keep them short: a slow store
            delays every caller that consults it).  Async calls end after the sum of
            the two whatever the client (a stalled server fails them in time).
    """

    def __init__(
        self,
        url_or_client: Any,
        *,
        namespace: str = "okta-guard",
        socket_timeout: float = 0.5,
        connect_timeout: float = 0.5,
    ) -> None:
        redis = _import_redis()
        if not isinstance(namespace, str) or not namespace or not namespace.isprintable():
            raise ConfigurationError("The RedisStore namespace must be a printable string.")
        self.namespace = namespace
        self._timeouts = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
        }
        self._call_timeout = float(socket_timeout) + float(connect_timeout)
        self._url: str | None = None
        self._sync: _redis.Redis | None = None
        self._async: _aredis.Redis | None = None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _aredis.Redis]
        self._per_loop = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        if isinstance(url_or_client, str):
            if not url_or_client.startswith(("redis://", "rediss://", "unix://", "valkey://")):
                raise ConfigurationError(
                    "RedisStore takes a redis:// (or rediss://, unix://) URL or a redis client."
                )
            self._url = url_or_client.replace("valkey://", "redis://", 1)
            self._sync = redis.Redis.from_url(self._url, **self._client_options(redis))
        elif isinstance(url_or_client, (redis.asyncio.Redis, redis.Redis)):
            kwargs = url_or_client.connection_pool.connection_kwargs
            if kwargs.get("decode_responses"):
                raise ConfigurationError(
                    "RedisStore stores binary values: pass a client built without "
                    "decode_responses=True (or a URL)."
                )
            if isinstance(url_or_client, redis.asyncio.Redis):
                self._async = url_or_client
            else:
                self._sync = url_or_client
        else:
            raise ConfigurationError(
                "RedisStore takes a URL, a redis.Redis or a redis.asyncio.Redis client, "
                f"not {type(url_or_client).__name__}."
            )

    def __repr__(self) -> str:
        # The URL may hold a password: show neither.
        return f"RedisStore(namespace={self.namespace!r})"

    def _client_options(self, redis: Any) -> dict[str, Any]:
        # No retries: one failed call is reported at once and the caller falls back.
        return {**self._timeouts, "retry": redis.retry.Retry(_no_backoff(), 0)}

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    # -- clients ------------------------------------------------------------------------

    def _sync_client(self) -> _redis.Redis:
        if self._sync is not None:
            return self._sync
        with self._lock:
            if self._sync is None:
                self._sync = self._derive_sync()
            return self._sync

    def _derive_sync(self) -> _redis.Redis:
        redis = _import_redis()
        assert self._async is not None
        pool = self._async.connection_pool
        kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in _PORTABLE}
        name = pool.connection_class.__name__
        connection_class = {
            "SSLConnection": redis.SSLConnection,
            "UnixDomainSocketConnection": redis.UnixDomainSocketConnection,
        }.get(name, redis.Connection)
        sync_pool = redis.ConnectionPool(connection_class=connection_class, **kwargs)
        return redis.Redis(connection_pool=sync_pool)  # type: ignore[no-any-return]

    def _async_client(self) -> _aredis.Redis | None:
        """The asyncio client for the running loop, or ``None`` to use a worker thread."""
        if self._async is not None:
            return self._async
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        client = self._per_loop.get(loop)
        if client is None:
            redis = _import_redis()
            client = redis.asyncio.Redis.from_url(
                self._url,
                **self._timeouts,
                retry=redis.asyncio.retry.Retry(_no_backoff(), 0),
            )
            self._per_loop[loop] = client
        return client

    # -- sync -----------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""
        return _as_bytes(self._sync_client().get(self._key(key)))

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``SET PX``)."""
        self._sync_client().set(self._key(key), bytes(value), px=_millis(ttl))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store ``value`` for ``ttl`` seconds only if ``key`` is absent (``SET NX PX``)."""
        return bool(self._sync_client().set(self._key(key), bytes(value), nx=True, px=_millis(ttl)))

    def delete(self, key: str) -> None:
        """Forget ``key`` (``DEL``)."""
        self._sync_client().delete(self._key(key))

    def lock(self, key: str, ttl: float) -> str | None:
        """Take the lock ``key`` for ``ttl`` seconds (``SET NX PX``); the owner or ``None``."""
        owner = new_owner()
        return owner if self.add(key, owner.encode(), ttl) else None

    def unlock(self, key: str, owner: str) -> bool:
        """Release the lock ``key`` if ``owner`` still holds it (compare-and-delete)."""
        return bool(self._sync_client().eval(_UNLOCK, 1, self._key(key), owner))

    # -- async ----------------------------------------------------------------------------

    async def _bounded(self, call: Awaitable[T]) -> T:
        """``call`` within the store's timeouts, whatever the client was built with: a
        Redis that accepts the connection and never answers fails the call in time."""
        return await asyncio.wait_for(call, self._call_timeout)

    async def get_async(self, key: str) -> bytes | None:
        """Async :meth:`get`."""
        client = self._async_client()
        if client is None:
            return await self._bounded(asyncio.to_thread(self.get, key))
        return _as_bytes(await self._bounded(client.get(self._key(key))))

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """Async :meth:`set`."""
        client = self._async_client()
        if client is None:
            await self._bounded(asyncio.to_thread(self.set, key, value, ttl))
            return
        await self._bounded(client.set(self._key(key), bytes(value), px=_millis(ttl)))

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        """Async :meth:`add`."""
        client = self._async_client()
        if client is None:
            return await self._bounded(asyncio.to_thread(self.add, key, value, ttl))
        added = await self._bounded(
            client.set(self._key(key), bytes(value), nx=True, px=_millis(ttl))
        )
        return bool(added)

    async def delete_async(self, key: str) -> None:
        """Async :meth:`delete`."""
        client = self._async_client()
        if client is None:
            await self._bounded(asyncio.to_thread(self.delete, key))
            return
        await self._bounded(client.delete(self._key(key)))

    async def lock_async(self, key: str, ttl: float) -> str | None:
        """Async :meth:`lock`."""
        owner = new_owner()
        return owner if await self.add_async(key, owner.encode(), ttl) else None

    async def unlock_async(self, key: str, owner: str) -> bool:
        """Async :meth:`unlock`."""
        client = self._async_client()
        if client is None:
            return await self._bounded(asyncio.to_thread(self.unlock, key, owner))
        return bool(await self._bounded(client.eval(_UNLOCK, 1, self._key(key), owner)))

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client this store built (clients you passed stay open)."""
        if self._url is not None and self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        """Close the clients this store built, the running loop's asyncio client included."""
        self.close()
        if self._url is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is awaited
            return
        client = self._per_loop.pop(loop, None)
        if client is not None:
            await client.aclose()


def _no_backoff() -> Any:
    from redis.backoff import NoBackoff

    return NoBackoff()


def _as_bytes(value: object) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    raise TypeError(f"The Redis server answered a {type(value).__name__}, not a string value.")
