"""The key cache drivers against the mock issuer: discovery, rotation, outages, concurrency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from okta_guard.errors import InvalidTokenError, IssuerUnavailableError
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.verifier import TokenVerifier
from tests.support.verifier_helpers import ISSUER, JwksEndpoint, jwk, token, verifier


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def okta(clock: FakeClock) -> Iterator[MockIssuer]:
    mock = MockIssuer(clock=clock)
    try:
        yield mock
    finally:
        mock.close()


def make(okta: MockIssuer, clock: FakeClock, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=clock,
        http_client=options.pop("http_client", None) or okta.http_client(),
        async_http_client=options.pop("async_http_client", None) or okta.async_http_client(),
        rand=lambda: 1.0,
        **options,
    )


# -- discovery ---------------------------------------------------------------------------


def test_discovery_then_keys(okta: MockIssuer, clock: FakeClock) -> None:
    v = make(okta, clock)
    assert v.verify(okta.mint_token(scopes=["a"])).scopes == {"a"}
    endpoints = [r.endpoint for r in okta.requests]
    assert endpoints == ["metadata", "keys"]
    assert v.stats.jwks_uri == okta.jwks_uri


def test_explicit_jwks_uri_skips_discovery(okta: MockIssuer, clock: FakeClock) -> None:
    v = make(okta, clock, jwks_uri=okta.jwks_uri)
    v.verify(okta.mint_token())
    assert [r.endpoint for r in okta.requests] == ["keys"]


def test_discovery_unavailable_falls_back_to_v1_keys(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("metadata", 404, times=2)
    v = make(okta, clock)
    v.verify(okta.mint_token())
    assert [r.endpoint for r in okta.requests] == ["metadata", "metadata", "keys"]
    assert v.stats.jwks_uri == okta.jwks_uri


def test_metadata_with_foreign_issuer_is_refused() -> None:
    endpoint = JwksEndpoint(
        metadata={"issuer": "https://evil.example.com/oauth2/default", "jwks_uri": "x"}
    )
    v = verifier(endpoint)
    v.verify(token())
    assert endpoint.log[-1] == f"{ISSUER}/v1/keys"
    assert not any("evil" in url or url == "x" for url in endpoint.log)


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "https://evil.example.com/oauth2/default/v1/keys",
        "http://okta.example.com/oauth2/default/v1/keys",
        "https://okta.example.com:8443/oauth2/default/v1/keys",
        "https://user@okta.example.com/oauth2/default/v1/keys",
        "file:///etc/passwd",
    ],
)
def test_metadata_jwks_uri_on_another_origin_is_never_fetched(jwks_uri: str) -> None:
    endpoint = JwksEndpoint(metadata={"issuer": ISSUER, "jwks_uri": jwks_uri})
    v = verifier(endpoint)
    v.verify(token())
    assert jwks_uri not in endpoint.log
    assert endpoint.log[-1] == f"{ISSUER}/v1/keys"


# -- rotation ----------------------------------------------------------------------------


def test_rotation_new_kid_fetched_after_cooldown(okta: MockIssuer, clock: FakeClock) -> None:
    v = make(okta, clock)
    v.verify(okta.mint_token())
    okta.rotate_keys()  # the pre-published NEXT key becomes active: already known
    assert v.verify(okta.mint_token()).client_id == "mock-client"
    assert okta.keys_fetches == 1
    okta.rotate_keys()  # now signed by a key the cache has never seen
    with pytest.raises(InvalidTokenError) as info:
        v.verify(okta.mint_token())  # within the cooldown of the first fetch
    assert info.value.reason == "unknown_kid"
    clock.advance(31)
    assert v.verify(okta.mint_token()).client_id == "mock-client"
    assert okta.keys_fetches == 2


def test_removed_key_stops_being_accepted_including_cached(
    okta: MockIssuer, clock: FakeClock
) -> None:
    v = make(okta, clock)
    old = okta.mint_token()
    v.verify(old)
    assert v.verify(old) is v.verify(old)  # cached
    okta.rotate_keys(keep_previous=False)
    okta.rotate_keys(keep_previous=False)  # the old key is no longer published
    clock.advance(31)
    v.verify(okta.mint_token())  # new kid: triggers the refetch that drops the old key
    with pytest.raises(InvalidTokenError) as info:
        v.verify(old)
    assert info.value.reason == "unknown_kid"
    assert v.stats.cached_tokens == 1


# -- failures ----------------------------------------------------------------------------


def test_outage_keeps_serving_last_good_keys(okta: MockIssuer, clock: FakeClock) -> None:
    okta.jwks_max_age = 600
    v = make(okta, clock)
    v.verify(okta.mint_token())
    with okta.outage("keys"):
        clock.advance(700)  # past the time to live: a refresh is attempted and fails
        assert v.verify(okta.mint_token()).client_id == "mock-client"
        assert v.stats.fetch_failures == 1
        assert v.stats.stale_serves >= 1
        clock.advance(5)
        assert v.verify(okta.mint_token()).client_id == "mock-client"
    assert v.stats.keys_cached == 2


def test_nothing_cached_and_unreachable_is_503(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("keys", 503, times=5)
    v = make(okta, clock)
    with pytest.raises(IssuerUnavailableError) as info:
        v.verify(okta.mint_token())
    assert info.value.status_code == 503
    assert info.value.retry_after >= 1
    # Within the backoff no new request is made; the answer stays 503.
    with pytest.raises(IssuerUnavailableError):
        v.verify(okta.mint_token())
    assert okta.keys_fetches == 1
    assert v.stats.verdicts["issuer_unavailable"] == 2


def test_rate_limited_keys_honour_x_rate_limit_reset(okta: MockIssuer, clock: FakeClock) -> None:
    reset = int(clock()) + 50
    okta.fail_next("keys", 429, headers={"x-rate-limit-reset": str(reset)})
    v = make(okta, clock)
    with pytest.raises(IssuerUnavailableError) as info:
        v.verify(okta.mint_token())
    assert info.value.retry_after == pytest.approx(50)
    clock.advance(49)
    with pytest.raises(IssuerUnavailableError):
        v.verify(okta.mint_token())
    assert okta.keys_fetches == 1
    clock.advance(1)
    v.verify(okta.mint_token())
    assert okta.keys_fetches == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "this is not json"),
        (200, {"keys": "nope"}),
        (200, b"\x00" * (1024 * 1024 + 1)),
        (500, None),
        (302, None),
    ],
)
def test_bad_responses_never_empty_the_cache(
    okta: MockIssuer, clock: FakeClock, status: int, body: Any
) -> None:
    okta.jwks_max_age = 300
    v = make(okta, clock)
    v.verify(okta.mint_token())
    okta.fail_next("keys", status, body=body)
    clock.advance(301)
    v.verify(okta.mint_token())
    assert v.stats.fetch_failures == 1
    assert v.stats.keys_cached == 2


def test_slow_jwks_times_out_and_is_a_failure(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("keys", None, delay=5.0)
    v = make(okta, clock, http_client=okta.http_client(timeout=0.05))
    with pytest.raises(IssuerUnavailableError):
        v.verify(okta.mint_token())
    assert v.stats.fetch_failures == 1


async def test_slow_jwks_async(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("keys", None, delay=5.0)
    v = make(okta, clock, async_http_client=okta.async_http_client(timeout=0.05))
    with pytest.raises(IssuerUnavailableError):
        await v.verify_async(okta.mint_token())


def test_disconnect_is_a_failure(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("keys", disconnect=True)
    v = make(okta, clock)
    with pytest.raises(IssuerUnavailableError):
        v.verify(okta.mint_token())


def test_oversized_declared_length_is_refused() -> None:
    big = httpx.Response(200, headers={"content-length": str(2 * 1024 * 1024)}, content=b"{}")
    endpoint = JwksEndpoint(responses=[big])
    v = verifier(endpoint)
    with pytest.raises(IssuerUnavailableError):
        v.verify(token())


# -- concurrency -------------------------------------------------------------------------


async def test_100_concurrent_async_verifications_of_a_new_kid_cause_one_fetch(
    okta: MockIssuer, clock: FakeClock
) -> None:
    okta.fail_next("keys", None, delay=0.02)  # keep the fetch in flight for a moment
    v = make(okta, clock)
    tokens = [okta.mint_token(scopes=[f"s{i}"]) for i in range(100)]
    results = await asyncio.gather(*(v.verify_async(t) for t in tokens))
    assert [next(iter(r.scopes)) for r in results] == [f"s{i}" for i in range(100)]
    assert okta.keys_fetches == 1
    assert v.stats.fetches == 1


def test_concurrent_threads_share_one_fetch() -> None:
    gate = threading.Event()
    endpoint = JwksEndpoint(on_keys=lambda: gate.wait(5))
    v = verifier(endpoint)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            v.verify(token())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert not errors
    assert endpoint.key_fetches == 1


async def test_async_callers_do_not_block_the_loop_while_a_sync_fetch_runs() -> None:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(5)

    endpoint = JwksEndpoint(on_keys=hold)
    v = verifier(endpoint)
    sync_result: list[Any] = []
    thread = threading.Thread(target=lambda: sync_result.append(v.verify(token())))
    thread.start()
    assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 5)
    waiters = [asyncio.ensure_future(v.verify_async(token())) for _ in range(10)]
    ticks = 0
    for _ in range(5):  # the loop keeps running while the sync fetch is held
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and not any(w.done() for w in waiters)
    release.set()
    results = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    thread.join(5)
    assert len(results) == 10 and len(sync_result) == 1
    assert endpoint.key_fetches == 1


async def test_cancelled_caller_does_not_cancel_the_shared_fetch(
    okta: MockIssuer, clock: FakeClock
) -> None:
    okta.fail_next("keys", None, delay=0.02)
    v = make(okta, clock)
    first = asyncio.ensure_future(v.verify_async(okta.mint_token()))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(v.verify_async(okta.mint_token()))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).client_id == "mock-client"
    assert okta.keys_fetches == 1


async def test_only_a_sync_client_given_is_used_for_async_too(
    okta: MockIssuer, clock: FakeClock
) -> None:
    v = TokenVerifier(okta.issuer, okta.audience, clock=clock, http_client=okta.http_client())
    assert (await v.verify_async(okta.mint_token())).client_id == "mock-client"
    assert okta.keys_fetches == 1


# -- prewarm and life cycle --------------------------------------------------------------


def test_prewarm(okta: MockIssuer, clock: FakeClock) -> None:
    v = make(okta, clock)
    v.prewarm()
    assert okta.keys_fetches == 1
    v.verify(okta.mint_token())
    assert okta.keys_fetches == 1


def test_prewarm_failure_raises(okta: MockIssuer, clock: FakeClock) -> None:
    okta.fail_next("keys", 503)
    v = make(okta, clock)
    with pytest.raises(IssuerUnavailableError):
        v.prewarm()


async def test_prewarm_async(okta: MockIssuer, clock: FakeClock) -> None:
    v = make(okta, clock)
    await v.prewarm_async()
    assert okta.keys_fetches == 1
    okta.fail_next("keys", 503)
    with pytest.raises(IssuerUnavailableError):
        await v.prewarm_async()
    assert v.stats.keys_cached == 2  # the failed prewarm kept the keys
    assert v.stats.fetches == 2 and v.stats.fetch_failures == 1


def test_close_leaves_injected_clients_open(okta: MockIssuer, clock: FakeClock) -> None:
    client = okta.http_client()
    v = make(okta, clock, http_client=client)
    v.verify(okta.mint_token())
    v.close()
    assert not client.is_closed


async def test_async_refresh_ahead_runs_in_background(okta: MockIssuer, clock: FakeClock) -> None:
    okta.jwks_max_age = 1000
    v = make(okta, clock)
    await v.verify_async(okta.mint_token())
    clock.advance(850)  # inside the refresh-ahead window, keys still fresh
    assert (await v.verify_async(okta.mint_token())).client_id == "mock-client"
    assert okta.keys_fetches == 1  # the caller did not wait for the refresh
    await v.key_cache.drain()
    assert okta.keys_fetches == 2
    assert v.stats.fetches == 2
    await v.aclose()


# -- a real loopback server and owned clients --------------------------------------------


def test_real_loopback_server_sync_and_async(okta_issuer_server: MockIssuer) -> None:
    okta = okta_issuer_server
    with TokenVerifier(okta.issuer, okta.audience) as v:
        assert v.verify(okta.mint_token(scopes=["x"])).scopes == {"x"}

        async def run() -> str | None:
            async with TokenVerifier(okta.issuer, okta.audience) as av:
                return (await av.verify_async(okta.mint_token())).client_id

        assert asyncio.run(run()) == "mock-client"


def test_unknown_kid_flood_costs_one_fetch_per_cooldown() -> None:
    endpoint = JwksEndpoint(keys=[jwk("a", "kid-a")])
    clock = FakeClock(1_800_000_000.0)
    v = verifier(endpoint, clock=clock)
    v.verify(token())
    for i in range(300):
        if i % 100 == 0:
            clock.advance(30)
        with pytest.raises(InvalidTokenError) as info:
            v.verify(token(kid=f"bogus-{i}"))
        assert info.value.reason == "unknown_kid"
        assert v.verify(token(claims_id(i))).client_id == "svc"
    assert endpoint.key_fetches == 1 + 3
    assert v.stats.unknown_kids == 300


def claims_id(i: int) -> dict[str, Any]:
    from tests.support.verifier_helpers import claims

    return claims(jti=f"AT.{i}")


def test_openid_configuration_used_when_legacy_metadata_missing(
    okta: MockIssuer, clock: FakeClock
) -> None:
    okta.fail_next("metadata", 404)
    v = make(okta, clock)
    v.verify(okta.mint_token())
    paths = [r.path for r in okta.requests]
    assert paths[0].endswith("/.well-known/oauth-authorization-server")
    assert paths[1].endswith("/.well-known/openid-configuration")
    assert v.stats.jwks_uri == okta.jwks_uri


async def test_100_concurrent_verifications_of_a_rotated_kid_cause_one_refetch(
    okta: MockIssuer, clock: FakeClock
) -> None:
    v = make(okta, clock)
    await v.verify_async(okta.mint_token())
    okta.rotate_keys()
    okta.rotate_keys()  # the active key is now one the cache has never seen
    clock.advance(31)
    okta.fail_next("keys", None, delay=0.02)
    tokens = [okta.mint_token(scopes=[f"s{i}"]) for i in range(100)]
    results = await asyncio.gather(*(v.verify_async(t) for t in tokens))
    assert len(results) == 100
    assert okta.keys_fetches == 2
    assert v.stats.unknown_kids == 0


def test_pretty_printed_metadata_and_keys_with_trailing_newline() -> None:
    import json

    pretty_keys = json.dumps({"keys": [jwk()]}, indent=2).encode() + b"\n"
    pretty_meta = (
        json.dumps({"issuer": ISSUER, "jwks_uri": f"{ISSUER}/v1/keys"}, indent=2).encode() + b"\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("oauth-authorization-server"):
            return httpx.Response(200, content=pretty_meta)
        return httpx.Response(200, content=pretty_keys)

    v = TokenVerifier(
        ISSUER,
        "api://default",
        clock=FakeClock(1_800_000_000.0),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert v.verify(token()).client_id == "svc"


def test_new_kid_during_an_outage_is_503_known_kids_still_verify(
    okta: MockIssuer, clock: FakeClock
) -> None:
    v = make(okta, clock)
    v.verify(okta.mint_token())
    okta.rotate_keys()
    okta.rotate_keys()
    clock.advance(31)
    with okta.outage("keys"):
        with pytest.raises(IssuerUnavailableError):
            v.verify(okta.mint_token())  # signed by a key we cannot fetch
        old = okta.mint_token(key=next(iter(v.key_cache.policy.keys)))
        assert v.verify(old).client_id == "mock-client"
