"""TokenClient(..., store=RedisStore(...)) in one test process: each TokenClient has its own
process-local cache, so several clients stand for several processes sharing one Redis."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import pytest
import redis

from okta_guard import TokenClient
from okta_guard.call.shared_policy import StoreSettings
from okta_guard.call.shared_seal import slot_id
from okta_guard.errors import ConfigurationError
from okta_guard.redis import RedisStore
from okta_guard.store import MemoryStore, Store
from okta_guard.testing import FakeClock, MockIssuer
from tests.fleet.conftest import SCOPES, SECRET


def make_client(okta: MockIssuer, clock: FakeClock, store: Store, **kwargs: object) -> TokenClient:
    options: dict[str, object] = {"scopes": SCOPES, "clock": clock, "store": store}
    options.update(kwargs)
    return TokenClient(
        okta.issuer,
        "svc",
        SECRET,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
        **options,  # type: ignore[arg-type]
    )


class CountingStore:
    """Wraps a store and counts the calls that reach it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: object) -> object:
            self.calls += 1
            return attr(*args)

        return counted


def raw_values(redis_url: str, namespace: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(redis_url)
    found = {k: client.get(k) or b"" for k in client.scan_iter(match=f"{namespace}:*")}
    client.close()
    return found


def test_processes_share_one_token_request(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    clients = [make_client(issuer, clock, store) for _ in range(5)]
    barrier = threading.Barrier(50)
    seen: list[str] = []

    def work(client: TokenClient) -> None:
        barrier.wait()
        seen.append(client.get_token().access_token)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert issuer.count("token") == 1
    assert len(seen) == 50
    assert len(set(seen)) == 1
    stats = [c.store_stats for c in clients]
    assert sum(s["issuer_fetches"] for s in stats if s) == 1


async def test_async_processes_share_one_token_request(
    issuer: MockIssuer, clock: FakeClock, async_store: RedisStore
) -> None:
    clients = [make_client(issuer, clock, async_store) for _ in range(5)]
    tokens = await asyncio.gather(*(c.get_token_async() for c in clients for _ in range(10)))
    assert issuer.count("token") == 1
    assert len({t.access_token for t in tokens}) == 1


def test_local_hits_never_touch_the_store(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    counting = CountingStore(store)
    client = make_client(issuer, clock, counting)  # type: ignore[arg-type]
    first = client.get_token()
    calls = counting.calls
    assert calls > 0
    for _ in range(100):
        assert client.get_token() is first
    assert counting.calls == calls


def test_refresh_ahead_and_expiry_once_per_fleet(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    clients = [make_client(issuer, clock, store) for _ in range(4)]
    first = {c.get_token().access_token for c in clients}
    assert issuer.count("token") == 1
    clock.advance(3600 - 30)  # inside the 60 s refresh margin, still valid
    second = {c.get_token().access_token for c in clients}
    assert issuer.count("token") == 2
    assert len(second) == 1
    assert second != first
    clock.advance(3600)  # everything expired
    third = {c.get_token().access_token for c in clients}
    assert issuer.count("token") == 3
    assert len(third) == 1


async def test_refresh_in_progress_elsewhere_keeps_the_valid_token(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    a, b = make_client(issuer, clock, store), make_client(issuer, clock, store)
    old = a.get_token()
    assert b.get_token().access_token == old.access_token
    clock.advance(3600 - 30)
    issuer.fail_next("token", status=None, delay=0.3)  # a's refresh is slow
    refresh = asyncio.create_task(a.get_token_async())
    await asyncio.sleep(0.1)
    # b does not wait for a's refresh and makes no request: it keeps the valid token
    assert (await b.get_token_async()).access_token == old.access_token
    new = await refresh
    assert issuer.count("token") == 2
    clock.advance(1)  # past b's short recheck: b picks up a's new token from the store
    assert (await b.get_token_async()).access_token == new.access_token
    assert issuer.count("token") == 2


def test_nothing_usable_in_the_store(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore, redis_url: str
) -> None:
    client = make_client(issuer, clock, store)
    token = client.get_token().access_token
    values = raw_values(redis_url, store.namespace)
    assert values
    for key, value in values.items():
        for part in [token, *token.split(".")]:
            assert part.encode() not in value
            assert part.encode() not in key
        assert SECRET.encode() not in value
        assert b"svc" not in key  # the key is a hash: no client id, scope or issuer
    assert "svc" not in repr(client._shared)
    assert token not in repr(client) + repr(client._shared) + repr(client.store_stats)


def test_a_tampered_entry_is_ignored_and_replaced(
    issuer: MockIssuer,
    clock: FakeClock,
    store: RedisStore,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = make_client(issuer, clock, store).get_token()
    (key, value), *_ = (kv for kv in raw_values(redis_url, store.namespace).items())
    raw = redis.Redis.from_url(redis_url)
    raw.set(key, value[:-1] + bytes([value[-1] ^ 1]))
    with caplog.at_level(logging.WARNING, logger="okta_guard"):
        other = make_client(issuer, clock, store)
        token = other.get_token()
    assert token.access_token != first.access_token
    assert issuer.count("token") == 2
    assert other.store_stats is not None and other.store_stats["rejected_entries"] >= 1
    assert "failed authentication" in caplog.text
    for secret in (first.access_token, token.access_token, SECRET):
        assert secret not in caplog.text
    assert make_client(issuer, clock, store).get_token().access_token == token.access_token
    raw.set(key, b"garbage")  # not even our format
    assert make_client(issuer, clock, store).get_token().access_token != token.access_token
    raw.close()


def test_an_entry_moved_to_another_slot_does_not_open(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    issuer.register_client("svc", SECRET, scopes=[*SCOPES, "orders:write"])
    reader = make_client(issuer, clock, store)
    reader.get_token()
    writer = make_client(issuer, clock, store, scopes=["orders:write"])
    assert writer._shared is not None and reader._shared is not None
    assert writer._shared.slot != reader._shared.slot
    value = store.get(reader._shared.slot)
    assert value is not None
    store.set(writer._shared.slot, value, 60)
    assert writer.get_token().scopes == frozenset({"orders:write"})
    assert issuer.count("token") == 2


def test_other_credentials_cannot_open_the_entry(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    make_client(issuer, clock, store).get_token()
    assert make_client(issuer, clock, store)._shared is not None
    # same slot (client id, scopes...), a different key: as if the secret were rotated
    rotated = make_client(issuer, clock, store, encryption_key=b"k" * 32)
    rotated.get_token()
    assert issuer.count("token") == 2
    shared = make_client(issuer, clock, store, encryption_key=b"k" * 32)
    shared.get_token()
    assert issuer.count("token") == 2


def test_the_slot_covers_everything_that_changes_the_token(issuer: MockIssuer) -> None:
    base = TokenClient(issuer.issuer, "svc", SECRET, scopes=SCOPES).cache_key
    other = TokenClient(issuer.issuer, "svc", SECRET, scopes=["b", "a"]).cache_key
    post = TokenClient(
        issuer.issuer, "svc", SECRET, scopes=SCOPES, auth_method="client_secret_post"
    ).cache_key
    slots = {
        slot_id(base, None),
        slot_id(base, "thumbprint-of-a-dpop-key"),
        slot_id(other, None),
        slot_id(post, None),
    }
    assert len(slots) == 4
    ordered = TokenClient(issuer.issuer, "svc", SECRET, scopes=["a", "b"]).cache_key
    assert slot_id(ordered, None) == slot_id(other, None)


def test_invalidate_replaces_the_shared_token_for_the_whole_fleet(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    a, b = make_client(issuer, clock, store), make_client(issuer, clock, store)
    token = a.get_token()
    assert b.get_token().access_token == token.access_token
    a.invalidate(token)  # e.g. the API answered 401
    fresh = a.get_token()
    assert fresh.access_token != token.access_token
    b.invalidate(token)  # b's late report of the same bad token keeps a's new one
    assert b.get_token().access_token == fresh.access_token
    assert issuer.count("token") == 2
    assert a.get_token(force_refresh=True).access_token != fresh.access_token


def test_a_dead_lock_holder_delays_only_until_its_lock_expires(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    client = make_client(issuer, clock, store)
    assert client._shared is not None
    assert store.lock(client._shared.lock, 0.3) is not None  # a process that then died
    token = client.get_token()
    assert token.access_token
    assert issuer.count("token") == 1
    stats = client.store_stats
    assert stats is not None and stats["waits"] == 1 and stats["wait_timeouts"] == 0


def test_waiting_is_bounded_then_the_process_asks_okta(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(issuer, clock, store, store_settings=StoreSettings(wait=0.2))
    assert client._shared is not None
    store.lock(client._shared.lock, 60)  # a holder that hangs
    with caplog.at_level(logging.WARNING, logger="okta_guard"):
        assert client.get_token().access_token
    stats = client.store_stats
    assert stats is not None and stats["wait_timeouts"] == 1
    assert issuer.count("token") == 1
    assert "asking Okta directly" in caplog.text


class FailingStore(MemoryStore):
    """A store whose every call raises while ``broken`` is set."""

    broken = True

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("store down")

    def get(self, key: str) -> bytes | None:
        self._check()
        return super().get(key)

    def lock(self, key: str, ttl: float) -> str | None:
        self._check()
        return super().lock(key, ttl)

    async def get_async(self, key: str) -> bytes | None:
        self._check()
        return super().get(key)


def test_a_failing_store_falls_back_to_okta_then_recovers(
    issuer: MockIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingStore()
    settings = StoreSettings(retry_after=0.0)
    a = make_client(issuer, clock, failing, store_settings=settings)
    b = make_client(issuer, clock, failing, store_settings=settings)
    with caplog.at_level(logging.WARNING, logger="okta_guard"):
        assert a.get_token().access_token
        assert b.get_token().access_token
    assert issuer.count("token") == 2  # one per process while the store is down
    assert a.store_stats is not None and a.store_stats["store_errors"] == 1
    assert a.store_stats["fallbacks"] == 1
    assert "shared token store failed (ConnectionError)" in caplog.text
    failing.broken = False
    clock.advance(7200)
    token = a.get_token()
    assert b.get_token().access_token == token.access_token
    assert issuer.count("token") == 3
    assert "answers again" in caplog.text
    assert token.access_token not in caplog.text and SECRET not in caplog.text


async def test_a_failing_store_async(issuer: MockIssuer, clock: FakeClock) -> None:
    client = make_client(issuer, clock, FailingStore())
    assert (await client.get_token_async()).access_token
    assert client.store_stats is not None and client.store_stats["store_errors"] == 1


def test_a_set_aside_store_is_not_consulted(issuer: MockIssuer, clock: FakeClock) -> None:
    failing = FailingStore()
    counting = CountingStore(failing)
    client = make_client(issuer, clock, counting)  # type: ignore[arg-type]
    client.get_token()
    calls = counting.calls
    clock.advance(7200)
    client.get_token()  # within retry_after (5 s of real time): straight to Okta
    assert counting.calls == calls
    assert issuer.count("token") == 2


def test_store_options_are_checked(issuer: MockIssuer) -> None:
    with pytest.raises(ConfigurationError, match="16 bytes"):
        TokenClient(issuer.issuer, "svc", SECRET, scopes=SCOPES, store=MemoryStore(),
                    encryption_key=b"short")  # fmt: skip
    with pytest.raises(ConfigurationError, match="go with store"):
        TokenClient(issuer.issuer, "svc", SECRET, scopes=SCOPES, encryption_key=b"k" * 32)
    with pytest.raises(ConfigurationError, match="needs a Store"):
        TokenClient(issuer.issuer, "svc", SECRET, scopes=SCOPES, store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="wait"):
        StoreSettings(wait=-1)


def test_private_key_clients_derive_their_key_from_the_private_key(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    issuer.register_client("pk", scopes=SCOPES, public_key=key.public_key())

    def pk_client() -> TokenClient:
        return TokenClient(
            issuer.issuer, "pk", private_key=key, scopes=SCOPES, clock=clock, store=store,
            http_client=issuer.http_client(),
        )  # fmt: skip

    assert pk_client().get_token().access_token == pk_client().get_token().access_token
    assert issuer.count("token") == 1


async def test_a_token_refused_by_the_api_is_never_taken_from_the_store_again(
    issuer: MockIssuer, clock: FakeClock, async_store: RedisStore
) -> None:
    a, b = make_client(issuer, clock, async_store), make_client(issuer, clock, async_store)
    bad = await a.get_token_async()
    assert (await b.get_token_async()).access_token == bad.access_token
    refused = {bad.access_token}

    def api(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].split()[1]
        return httpx.Response(401 if token in refused else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(api), auth=b.auth) as http:
        response = await http.get("https://api.example/orders")
    assert response.status_code == 200  # b retried with a new token, not the stored one
    assert issuer.count("token") == 2
    assert b._shared is not None
    await asyncio.gather(*b._shared._tasks)  # b's background delete of the shared entry
    new = (await b.get_token_async()).access_token
    assert new != bad.access_token
    a.invalidate(bad)  # a learns later; it takes b's new token from the store
    assert (await a.get_token_async()).access_token == new
    assert issuer.count("token") == 2


def test_a_refused_token_is_not_readopted_in_sync_code_either(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    client = make_client(issuer, clock, store)
    bad = client.get_token()
    store.delete = lambda key: None  # type: ignore[method-assign]  # the delete is lost
    client.invalidate(bad)
    assert client.get_token().access_token != bad.access_token
    assert issuer.count("token") == 2
