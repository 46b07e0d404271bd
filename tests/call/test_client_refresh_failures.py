"""TokenClient caching, refresh and every failure class, against the mock issuer."""

from __future__ import annotations

import logging

import httpx
import pytest

from okta_guard.call.client import RetrySettings, TokenCache, TokenClient
from okta_guard.errors import TokenRequestError
from okta_guard.testing import FakeClock
from tests.support.client_fakes import SCOPE, SECRET, Sleeps, make_client, make_okta


def test_token_is_cached_until_the_refresh_margin() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    client = make_client(okta, clock)
    first = client.get_token()
    assert client.get_token() is first
    clock.advance(3600 - 61)
    assert client.get_token() is first
    assert okta.count("token") == 1
    clock.advance(2)  # now 59 s before expiry: inside the 60 s margin
    second = client.get_token()
    assert second.access_token != first.access_token
    assert okta.count("token") == 2
    assert second.expires_in(clock()) == 3600


def test_short_tokens_refresh_at_a_fraction_of_their_lifetime() -> None:
    clock = FakeClock()
    okta = make_okta(clock, token_lifetime=100)
    client = make_client(okta, clock)
    first = client.get_token()
    clock.advance(74)  # margin = min(60, 0.25 * 100) = 25 s
    assert client.get_token() is first
    clock.advance(1)
    assert client.get_token() is not first
    assert okta.count("token") == 2


def test_custom_refresh_margin() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    client = make_client(okta, clock, refresh_margin=600, refresh_fraction=1.0)
    first = client.get_token()
    clock.advance(3000)
    assert client.get_token() is not first


async def test_sync_and_async_share_one_cache() -> None:
    okta = make_okta()
    client = make_client(okta)
    token = client.get_token()
    assert await client.get_token_async() is token
    client.invalidate()
    fresh = await client.get_token_async()
    assert fresh is not token
    assert client.get_token() is fresh
    assert okta.count("token") == 2


def test_cache_key_covers_scopes_and_is_shared_between_clients() -> None:
    okta = make_okta()
    cache = TokenCache()
    a = make_client(okta, cache=cache, scopes=["orders:read", "orders:write"])
    b = make_client(okta, cache=cache, scopes=["orders:write", "orders:read"])
    c = make_client(okta, cache=cache, scopes=["orders:read"])
    d = make_client(okta, cache=cache, scopes=["orders:read"], auth_method="client_secret_post")
    assert a.cache_key == b.cache_key
    assert a.get_token() is b.get_token()
    assert c.get_token() is not a.get_token()
    assert d.get_token() is not c.get_token()
    assert okta.count("token") == 3


def test_force_refresh_and_invalidate_only_the_given_token() -> None:
    okta = make_okta()
    client = make_client(okta)
    old = client.get_token()
    new = client.get_token(force_refresh=True)
    assert new is not old
    client.invalidate(old)  # stale: keeps the newer token
    assert client.get_token() is new
    client.invalidate(new)
    assert client.get_token() is not new


def test_expired_token_is_never_returned() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    client = make_client(okta, clock)
    first = client.get_token()
    clock.advance(3600)
    with okta.outage("token"), pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.retryable
    assert client.get_token() is not first


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    okta = make_okta()
    sleeps = Sleeps()
    client = make_client(okta, sleeps=sleeps)
    okta.fail_next("token", 503, times=1)
    okta.fail_next("token", 500, times=1)
    assert client.get_token().token_type == "Bearer"
    assert okta.count("token") == 3
    assert sleeps.delays == [0.25, 0.5]  # rand=0: half of 0.5 * 2**(n-1)


def test_5xx_exhausts_the_attempts() -> None:
    okta = make_okta()
    sleeps = Sleeps()
    client = make_client(okta, sleeps=sleeps, retry=RetrySettings(max_attempts=4))
    okta.fail_next("token", 502, times=4)
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.retryable
    assert info.value.error == "server_error"
    assert "502" in info.value.description
    assert okta.count("token") == 4
    assert len(sleeps.delays) == 3
    # not a fatal error: the next call asks again at once
    assert client.get_token()
    assert okta.count("token") == 5


def test_network_errors_are_retried() -> None:
    okta = make_okta()
    sleeps = Sleeps()
    client = make_client(okta, sleeps=sleeps)
    okta.fail_next("token", disconnect=True, times=2)
    assert client.get_token()
    assert okta.count("token") == 3
    assert len(sleeps.delays) == 2


def test_network_error_message() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    okta = make_okta()
    client = make_client(okta, transport=httpx.MockTransport(refuse))
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.reason == "network_error"
    assert "ConnectError" in info.value.description
    assert okta.issuer in info.value.description


def test_429_waits_for_retry_after() -> None:
    okta = make_okta()
    sleeps = Sleeps()
    client = make_client(okta, sleeps=sleeps)
    okta.fail_next("token", 429, headers={"Retry-After": "7"})
    assert client.get_token()
    assert sleeps.delays == [7.0]


def test_429_waits_until_x_rate_limit_reset() -> None:
    clock = FakeClock(1_800_000_030.0)
    okta = make_okta(clock)
    sleeps = Sleeps()
    client = make_client(okta, clock, sleeps=sleeps)
    okta.fail_next("token", 429)  # the mock sends X-Rate-Limit-Reset: next minute
    assert client.get_token()
    assert sleeps.delays == [30.0]


def test_429_asking_for_too_long_a_wait_fails_fast() -> None:
    clock = FakeClock(1_800_000_000.0)
    okta = make_okta(clock)
    sleeps = Sleeps()
    client = make_client(okta, clock, sleeps=sleeps, retry=RetrySettings(max_retry_wait=10))
    okta.fail_next("token", 429, headers={"X-Rate-Limit-Reset": str(int(clock()) + 45)})
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.retryable
    assert "rate limited" in info.value.description
    assert "45 s" in info.value.description
    assert sleeps.delays == []
    assert okta.count("token") == 1
    # Okta asked us to stay away 45 s: callers fail fast until then, without asking again.
    clock.advance(40)
    with pytest.raises(TokenRequestError, match="rate limited"):
        client.get_token()
    assert okta.count("token") == 1
    clock.advance(6)
    assert client.get_token()
    assert okta.count("token") == 2


def test_rate_limited_refresh_keeps_the_old_token_until_the_reset() -> None:
    clock = FakeClock(1_800_000_000.0)
    okta = make_okta(clock)
    client = make_client(okta, clock)
    old = client.get_token()
    clock.advance(3600 - 50)
    reset = str(int(clock()) + 40)
    okta.fail_next("token", 429, headers={"X-Rate-Limit-Reset": reset}, times=1)
    assert client.get_token() is old
    clock.advance(15)  # past refresh_retry, but before the reset: no new request
    assert client.get_token() is old
    assert okta.count("token") == 2
    clock.advance(26)
    assert client.get_token() is not old
    assert okta.count("token") == 3


def test_invalid_client_is_not_retried_and_fails_fast_during_the_cooldown() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    sleeps = Sleeps()
    client = make_client(okta, clock, sleeps=sleeps, secret="wrong-secret")
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    err = info.value
    assert err.error == "invalid_client"
    assert err.status_code == 401
    assert not err.retryable
    assert "'svc'" in err.description
    assert "client id and secret" in err.description
    assert "wrong-secret" not in err.description
    assert sleeps.delays == []
    for _ in range(20):
        with pytest.raises(TokenRequestError, match="invalid_client"):
            client.get_token()
    assert okta.count("token") == 1
    clock.advance(31)
    with pytest.raises(TokenRequestError):
        client.get_token()
    assert okta.count("token") == 2


async def test_invalid_client_cooldown_applies_to_async_callers() -> None:
    okta = make_okta()
    client = make_client(okta, secret="wrong-secret")
    with pytest.raises(TokenRequestError):
        client.get_token()
    with pytest.raises(TokenRequestError, match="invalid_client"):
        await client.get_token_async()
    assert okta.count("token") == 1
    client.invalidate()  # clears the remembered failure
    with pytest.raises(TokenRequestError):
        await client.get_token_async()
    assert okta.count("token") == 2


def test_unknown_scope_is_invalid_scope_with_the_fix() -> None:
    okta = make_okta()
    client = make_client(okta, scopes=["billing:read"])
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == "invalid_scope"
    assert "Authorization Servers" in info.value.description
    assert "billing:read" in info.value.description


def test_scope_not_granted_is_access_denied_with_the_fix() -> None:
    okta = make_okta()
    okta.register_client("narrow", SECRET, scopes=["orders:write"])
    client = make_client(okta, client_id="narrow")
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == "access_denied"
    assert info.value.status_code == 403
    assert "Access Policies" in info.value.description


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        ("unauthorized_client", "API Services app"),
        ("unsupported_grant_type", "custom authorization server"),
        ("invalid_request", "malformed"),
    ],
)
def test_other_fatal_errors_name_the_fix(error: str, hint: str) -> None:
    okta = make_okta()
    client = make_client(okta)
    okta.fail_next("token", 400, body={"error": error, "error_description": "Nope."})
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == error
    assert hint in info.value.description
    assert "Okta said: Nope." in info.value.description
    assert okta.count("token") == 1


def test_wrong_auth_server_is_a_clear_404() -> None:
    okta = make_okta()
    client = TokenClient(
        okta.issuer.replace("/default", "/nope"),
        "svc",
        SECRET,
        scopes=[SCOPE],
        http_client=okta.http_client(),
    )
    with pytest.raises(TokenRequestError, match="authorization server id"):
        client.get_token()


def test_garbage_200_is_an_invalid_response() -> None:
    okta = make_okta()
    client = make_client(okta)
    okta.fail_next("token", 200, body="<html>login</html>")
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == "invalid_response"
    assert client.get_token()  # no cooldown for this one


def test_refresh_failure_keeps_the_old_token(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    sleeps = Sleeps()
    client = make_client(okta, clock, sleeps=sleeps)
    old = client.get_token()
    clock.advance(3600 - 30)
    caplog.set_level(logging.WARNING, logger="okta_guard")
    with okta.outage("token"):
        assert client.get_token() is old
        assert okta.count("token") == 4  # 1 + 3 attempts
        assert client.get_token() is old  # refresh paused: no new request
        assert okta.count("token") == 4
        clock.advance(11)  # refresh_retry (10 s) later it tries again
        assert client.get_token() is old
        assert okta.count("token") == 7
    assert "using the current token" in caplog.text
    clock.advance(11)
    new = client.get_token()
    assert new is not old
    assert okta.count("token") == 8


async def test_async_refresh_failure_keeps_the_old_token() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    client = make_client(okta, clock)
    old = await client.get_token_async()
    clock.advance(3600 - 30)
    okta.fail_next("token", 401, body={"error": "invalid_client", "error_description": "x"})
    assert await client.get_token_async() is old
    clock.advance(31)  # the old token has expired and the cooldown is over
    new = await client.get_token_async()
    assert new is not old


def test_owned_http_client_is_created_and_closed() -> None:
    okta = make_okta()
    with TokenClient(okta.issuer, "svc", SECRET, scopes=[SCOPE]) as client:
        http = client._fetcher.http.sync()
        assert client._fetcher.http.sync() is http
    assert http.is_closed


def test_dpop_app_explains_the_setting() -> None:
    okta = make_okta()
    okta.register_client("dpop-app", SECRET, scopes=[SCOPE], dpop=True)
    client = make_client(okta, client_id="dpop-app", dpop=False)
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == "invalid_dpop_proof"
    assert "Proof of Possession" in info.value.description
    assert "dpop=None" in info.value.description and "dpop=False" in info.value.description
    assert okta.count("token") == 1
