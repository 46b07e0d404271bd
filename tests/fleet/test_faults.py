"""Redis misbehaving - slow, answering errors or garbage, flushed, killed, a lock holder that
dies - never keeps a service token from a caller: it comes from Okta instead, in bounded time."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from okta_guard import StoreSettings, TokenClient
from okta_guard.redis import RedisStore
from okta_guard.testing import FakeClock, MockIssuer
from tests.fleet.conftest import SCOPES, SECRET
from tests.support.fleet_workers import Job, run_hanging_leader, worker_context
from tests.support.redis_server import RedisServer, TcpProxy


@pytest.fixture
def proxy(own_redis: RedisServer) -> Iterator[TcpProxy]:
    made = TcpProxy(own_redis.port)
    yield made
    made.cut()


def client_for(
    okta: MockIssuer, clock: FakeClock, store: RedisStore, **settings: float
) -> TokenClient:
    return TokenClient(
        okta.issuer, "svc", SECRET, scopes=SCOPES, clock=clock, store=store,
        http_client=okta.http_client(), store_settings=StoreSettings(**settings),
    )  # fmt: skip


def timed(client: TokenClient) -> tuple[str, float]:
    began = time.monotonic()
    token = client.get_token().access_token
    return token, time.monotonic() - began


def test_a_slow_redis_costs_one_socket_timeout_then_is_set_aside(
    issuer: MockIssuer, clock: FakeClock, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(proxy.url, namespace="slow")
    client = client_for(issuer, clock, store, retry_after=0.5)
    proxy.delay = 5.0  # every answer of the server arrives 5 s late
    with caplog.at_level(logging.WARNING, logger="okta_guard"):
        token, elapsed = timed(client)
    assert token and elapsed < 3.0  # one 0.5 s socket timeout, then straight to Okta
    assert issuer.count("token") == 1
    stats = client.store_stats
    assert stats is not None and stats["store_errors"] == 1 and stats["fallbacks"] == 1
    assert "shared token store failed (TimeoutError)" in caplog.text
    # recovery: the proxy is fast again; after retry_after the store is used again
    proxy.delay = 0.0
    time.sleep(0.5)  # retry_after is real time; nothing to await
    clock.advance(7200)
    fresh = client.get_token()
    other = client_for(issuer, clock, store)
    assert other.get_token().access_token == fresh.access_token
    assert issuer.count("token") == 2
    store.close()


@pytest.mark.parametrize(
    "reply", [b"-ERR injected failure\r\n", b"!!! not the protocol\r\n", b"$3\r\nabc\r\n"]
)
def test_redis_answering_errors_or_garbage(
    issuer: MockIssuer, clock: FakeClock, proxy: TcpProxy, reply: bytes
) -> None:
    store = RedisStore(proxy.url, namespace="garbage")
    proxy.reply = reply
    client = client_for(issuer, clock, store)
    token, elapsed = timed(client)
    assert token and elapsed < 3.0
    assert issuer.count("token") == 1
    assert client.store_stats is not None and client.store_stats["store_errors"] == 1
    store.close()


def test_a_flushed_database_mid_flight(
    issuer: MockIssuer, clock: FakeClock, own_redis: RedisServer
) -> None:
    store = RedisStore(own_redis.url, namespace="flush")
    leader, waiter = client_for(issuer, clock, store), client_for(issuer, clock, store)
    issuer.fail_next("token", status=None, delay=0.4)  # the leader's request is slow
    got: dict[str, str] = {}
    lead = threading.Thread(
        target=lambda: got.setdefault("leader", leader.get_token().access_token)
    )
    lead.start()
    raw = redis.Redis.from_url(own_redis.url)
    assert leader._shared is not None
    deadline = time.monotonic() + 5
    while not raw.exists(f"flush:{leader._shared.lock}") and time.monotonic() < deadline:
        time.sleep(0.005)  # the lock is in Redis once the leader asked Okta
    wait = threading.Thread(
        target=lambda: got.setdefault("waiter", waiter.get_token().access_token)
    )
    wait.start()
    raw.flushall()  # the lock and everything else vanish while the leader waits for Okta
    lead.join()
    wait.join()
    raw.close()
    assert got["leader"] and got["waiter"]
    assert issuer.count("token") <= 2
    # the fleet settles on the stored token again
    stored = client_for(issuer, clock, store).get_token().access_token
    assert stored in got.values()
    assert issuer.count("token") <= 2
    store.close()


def test_redis_killed_then_restarted_recovers(
    issuer: MockIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer().start()
    port = server.port
    store = RedisStore(server.url, namespace="restart")
    a = client_for(issuer, clock, store, retry_after=0.2)
    b = client_for(issuer, clock, store, retry_after=0.2)
    a.get_token()
    server.kill()
    clock.advance(7200)
    with caplog.at_level(logging.WARNING, logger="okta_guard"):
        assert timed(a)[1] < 3.0
        assert timed(b)[1] < 3.0
    assert issuer.count("token") == 3  # one each while Redis is down
    server.start(port=port)
    try:
        time.sleep(0.2)  # retry_after is real time
        clock.advance(7200)
        token = a.get_token().access_token
        assert b.get_token().access_token == token
        assert issuer.count("token") == 4
        assert "answers again" in caplog.text
    finally:
        store.close()
        server.stop()


def test_a_lock_holder_that_dies_frees_the_fleet_after_its_lock_expires(
    own_redis: RedisServer,
) -> None:
    with MockIssuer() as okta:
        okta.register_client("svc", SECRET, scopes=SCOPES)
        namespace = f"dies-{uuid.uuid4().hex[:8]}"
        job = Job(okta.issuer, "svc", SECRET, tuple(SCOPES), own_redis.url, namespace, 1, 1)
        okta.fail_next("token", status=None, delay=30)  # the holder hangs in its request
        ctx = worker_context()
        holder = ctx.Process(target=run_hanging_leader, args=(job, 3.0), daemon=True)
        holder.start()
        store = RedisStore(own_redis.url, namespace=namespace)
        client = TokenClient(
            okta.issuer, "svc", SECRET, scopes=SCOPES, store=store,
            store_settings=StoreSettings(wait=30),  # only the lock's expiry can free us
        )  # fmt: skip
        assert client._shared is not None
        deadline = time.monotonic() + 30
        while okta.count("token") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the holder, lock taken, waits for its token request
        assert store.get(client._shared.lock) is not None
        holder.kill()
        holder.join()
        token, elapsed = timed(client)
        assert token and elapsed < 10  # the 3 s lock expired (long before the 30 s wait)
        stats = client.store_stats
        assert stats is not None
        assert stats["waits"] == 1 and stats["wait_timeouts"] == 0 and stats["issuer_fetches"] == 1
        client.close()
        store.close()
