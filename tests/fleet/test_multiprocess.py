"""Real processes sharing one real Redis: 4 processes x 25 threads (or asyncio tasks) against
the mock issuer's loopback server make exactly one token request per expiry."""

from __future__ import annotations

import uuid

import pytest
import redis

from okta_guard import TokenVerifier
from okta_guard.testing import MockIssuer
from tests.fleet.conftest import LOADED, SCOPES, SECRET
from tests.support.fleet_workers import Fleet, Job
from tests.support.redis_server import RedisServer

PROCESSES = 4
CALLERS = 25


def job(okta: MockIssuer, redis_url: str | None, *, rounds: int, use_async: bool = False) -> Job:
    return Job(
        issuer=okta.issuer,
        client_id="svc",
        secret=SECRET,
        scopes=tuple(SCOPES),
        redis_url=redis_url,
        namespace=f"okta-guard-test-{uuid.uuid4().hex[:12]}",
        callers=CALLERS,
        rounds=rounds,
        use_async=use_async,
        socket_timeout=LOADED,
    )


def tokens_of(outcomes: list[tuple[str, float]]) -> set[str]:
    tokens = {token for token, _ in outcomes}
    assert not [t for t in tokens if t.startswith("error")], tokens
    return tokens


@pytest.mark.parametrize("use_async", [False, True], ids=["threads", "asyncio"])
def test_one_token_request_per_expiry_for_the_fleet(
    okta: MockIssuer, redis_url: str, use_async: bool
) -> None:
    spec = job(okta, redis_url, rounds=3, use_async=use_async)
    with Fleet(spec, PROCESSES) as fleet:
        first = fleet.run_round(0)
        assert okta.count("token") == 1
        assert len(first) == PROCESSES * CALLERS
        assert len(tokens_of(first)) == 1
        fleet.advance(3600 - 30)  # inside the refresh margin: still valid, due for refresh
        ahead = fleet.run_round(1)
        assert okta.count("token") == 2  # refreshed ahead once for the fleet
        assert len(ahead) == PROCESSES * CALLERS
        fleet.advance(7200)  # every token has expired, in every process
        second = fleet.run_round(2)
        assert okta.count("token") == 3
        assert len(tokens_of(second)) == 1
        assert tokens_of(second).isdisjoint(tokens_of(first) | tokens_of(ahead))
    # and nothing in Redis can be presented to an API
    raw = redis.Redis.from_url(redis_url)
    values = [raw.get(k) or b"" for k in raw.scan_iter(match=f"{spec.namespace}:*")]
    raw.close()
    assert values
    for token in tokens_of(first) | tokens_of(ahead) | tokens_of(second):
        for part in [token, *token.split(".")]:
            assert all(part.encode() not in value for value in values)


def test_without_a_store_each_process_asks(okta: MockIssuer) -> None:
    with Fleet(job(okta, None, rounds=1), PROCESSES) as fleet:
        outcomes = fleet.run_round(0)
    assert okta.count("token") == PROCESSES  # the per-process single flight only
    assert len(tokens_of(outcomes)) == PROCESSES


@pytest.mark.parametrize("use_async", [False, True], ids=["threads", "asyncio"])
def test_redis_killed_mid_run_every_caller_still_gets_a_valid_token(
    okta: MockIssuer, use_async: bool
) -> None:
    server = RedisServer().start()
    try:
        with Fleet(job(okta, server.url, rounds=2, use_async=use_async), PROCESSES) as fleet:
            first = fleet.run_round(0)
            assert okta.count("token") == 1
            server.kill()
            fleet.advance(7200)
            second = fleet.run_round(1)
    finally:
        server.stop()
    tokens = tokens_of(second)
    assert len(second) == PROCESSES * CALLERS
    assert max(elapsed for _, elapsed in second) < 5.0
    # each process asked once on its own (its local single flight still holds)
    assert 2 <= okta.count("token") <= 1 + PROCESSES
    assert tokens.isdisjoint(tokens_of(first))
    verifier = TokenVerifier(okta.issuer, okta.audience)
    for token in tokens:
        assert verifier.verify(token).client_id == "svc"
