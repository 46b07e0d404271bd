"""Every store keeps the same contract: MemoryStore, and RedisStore on a real Redis in its
three constructions (URL, redis.Redis, redis.asyncio.Redis), sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from okta_guard.errors import ConfigurationError
from okta_guard.redis import RedisStore
from okta_guard.store import MemoryStore, Store
from okta_guard.testing import FakeClock
from tests.fleet.conftest import LOADED

KINDS = ["memory", "url", "sync-client", "async-client"]


@pytest.fixture(params=KINDS)
def any_store(request: pytest.FixtureRequest, redis_url: str, namespace: str) -> Iterator[Store]:
    kind = request.param
    if kind == "memory":
        yield MemoryStore()
        return
    if kind == "url":
        made = RedisStore(
            redis_url, namespace=namespace, socket_timeout=LOADED, connect_timeout=LOADED
        )
    elif kind == "sync-client":
        made = RedisStore(redis.Redis.from_url(redis_url), namespace=namespace)
    else:
        made = RedisStore(redis.asyncio.Redis.from_url(redis_url), namespace=namespace)
    yield made
    made.close()


def test_stores_satisfy_the_protocol(any_store: Store) -> None:
    assert isinstance(any_store, Store)


def test_sync_contract(any_store: Store) -> None:
    assert any_store.get("k") is None
    assert any_store.add("k", b"one", 30) is True
    assert any_store.add("k", b"two", 30) is False  # add-if-absent
    assert any_store.get("k") == b"one"
    any_store.set("k", b"three", 30)
    assert any_store.get("k") == b"three"
    any_store.delete("k")
    assert any_store.get("k") is None
    any_store.delete("k")  # absent is fine
    owner = any_store.lock("l", 30)
    assert owner is not None
    assert any_store.lock("l", 30) is None
    assert any_store.unlock("l", "someone-else") is False
    assert any_store.lock("l", 30) is None  # still held
    assert any_store.unlock("l", owner) is True
    assert any_store.unlock("l", owner) is False
    assert any_store.lock("l", 30) is not None


async def test_async_contract(any_store: Store) -> None:
    assert await any_store.get_async("k") is None
    assert await any_store.add_async("k", b"one", 30) is True
    assert await any_store.add_async("k", b"two", 30) is False
    assert await any_store.get_async("k") == b"one"
    await any_store.set_async("k", b"three", 30)
    assert await any_store.get_async("k") == b"three"
    await any_store.delete_async("k")
    assert await any_store.get_async("k") is None
    owner = await any_store.lock_async("l", 30)
    assert owner is not None
    assert await any_store.lock_async("l", 30) is None
    assert await any_store.unlock_async("l", "nope") is False
    assert await any_store.unlock_async("l", owner) is True
    # sync and async callers see the same data
    any_store.set("shared", b"x", 30)
    assert await any_store.get_async("shared") == b"x"


async def test_add_is_atomic_under_concurrency(any_store: Store) -> None:
    results = await asyncio.gather(*(any_store.add_async("once", b"v", 30) for _ in range(50)))
    assert results.count(True) == 1


def test_values_expire_on_redis(store: RedisStore) -> None:
    store.set("short", b"v", 0.05)
    owner = store.lock("lock", 0.05)
    assert owner is not None
    client = redis.Redis.from_url(store._url or "")
    assert 0 < client.pttl(f"{store.namespace}:short") <= 50
    assert 0 < client.pttl(f"{store.namespace}:lock") <= 50
    client.close()


def test_memory_store_expiry_and_lock_expiry() -> None:
    clock = FakeClock(1000.0)
    mem = MemoryStore(clock=clock)
    mem.set("a", b"1", 10)
    owner = mem.lock("l", 5)
    assert owner is not None
    clock.advance(5)
    assert mem.get("a") == b"1"
    assert mem.lock("l", 5) is not None  # the old lock expired
    assert mem.unlock("l", owner) is False  # and the old owner cannot free the new one
    clock.advance(5)
    assert mem.get("a") is None
    assert mem.add("a", b"2", 1) is True


def test_memory_store_is_bounded() -> None:
    mem = MemoryStore(max_entries=3)
    for i in range(10):
        mem.set(f"k{i}", b"v", 60)
    assert len(mem) == 3
    assert mem.get("k9") == b"v"


def test_keys_are_namespaced(store: RedisStore, redis_url: str) -> None:
    store.set("k", b"v", 30)
    client = redis.Redis.from_url(redis_url)
    assert client.get(f"{store.namespace}:k") == b"v"
    other = RedisStore(redis_url, namespace=store.namespace + "-other")
    assert other.get("k") is None
    other.close()
    client.close()


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True])
def test_bad_ttl_is_refused(store: RedisStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.set("k", b"v", ttl)
    with pytest.raises(ValueError, match="ttl"):
        MemoryStore().add("k", b"v", ttl)


def test_construction_errors_say_what_to_pass() -> None:
    with pytest.raises(ConfigurationError, match="URL"):
        RedisStore("http://127.0.0.1:6379")
    with pytest.raises(ConfigurationError, match="not int"):
        RedisStore(6379)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        RedisStore(redis.Redis(decode_responses=True))
    with pytest.raises(ConfigurationError, match="namespace"):
        RedisStore("redis://127.0.0.1:6379/0", namespace="")


def test_repr_hides_the_url_and_its_password() -> None:
    made = RedisStore("redis://:hunter2-password@127.0.0.1:6379/0")
    assert "hunter2" not in repr(made)
    assert "6379" not in repr(made)


def test_a_server_that_is_not_there_raises_quickly() -> None:
    from tests.support.redis_server import free_port

    made = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.RedisError):
        made.get("k")
