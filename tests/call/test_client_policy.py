"""The sans-IO token policy (no network), configuration checks and redaction."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okta_guard._sansio import HttpRequest, HttpResponse
from okta_guard.call.auth_methods import Secret
from okta_guard.call.client import RetrySettings, TokenClient
from okta_guard.call.policy import (
    CachedToken,
    Fatal,
    Freshness,
    Retry,
    Sleep,
    Success,
    classify_response,
    freshness,
    refresh_at,
    token_fetch_flow,
)
from okta_guard.errors import ConfigurationError, TokenRequestError
from okta_guard.models import ServiceToken
from okta_guard.testing import FakeClock
from tests.support.client_fakes import SECRET, make_client, make_okta

ISSUER = "https://dev-123456.okta.com/oauth2/default"
NOW = 1_800_000_000.0


def _entry(obtained: float, lifetime: float) -> CachedToken:
    token = ServiceToken(
        "t",
        "Bearer",
        dt.datetime.fromtimestamp(obtained + lifetime, tz=dt.timezone.utc),
        frozenset(),
    )
    expires = obtained + lifetime
    return CachedToken(
        token, obtained, refresh_at(obtained, expires, margin=60, fraction=0.25), expires
    )


def _response(
    status: int, json: object = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    answer = httpx.Response(status, json=json, headers=headers)
    return HttpResponse(answer.status_code, answer.headers, answer.content)


def test_freshness_states() -> None:
    entry = _entry(NOW, 3600)
    assert freshness(None, NOW) is Freshness.UNUSABLE
    assert freshness(entry, NOW) is Freshness.FRESH
    assert freshness(entry, NOW + 3539) is Freshness.FRESH
    assert freshness(entry, NOW + 3540) is Freshness.REFRESH_DUE
    assert freshness(entry, NOW + 3540, refresh_blocked_until=NOW + 3550) is Freshness.FRESH
    assert freshness(entry, NOW + 3595) is Freshness.UNUSABLE


@settings(max_examples=60, deadline=None)
@given(
    lifetime=st.floats(min_value=1, max_value=86_400),
    margin=st.floats(min_value=0, max_value=600),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_refresh_time_is_within_the_lifetime(
    lifetime: float, margin: float, fraction: float
) -> None:
    when = refresh_at(NOW, NOW + lifetime, margin=margin, fraction=fraction)
    assert NOW <= when <= NOW + lifetime
    assert NOW + lifetime - when <= margin + 1e-6


def test_classify_success_and_defaults() -> None:
    outcome = classify_response(
        _response(200, {"access_token": "abc", "token_type": "bearer", "expires_in": "300"}),
        NOW,
        client_id="c",
        scopes=["a"],
    )
    assert isinstance(outcome, Success)
    assert outcome.token.token_type == "Bearer"
    assert outcome.token.scopes == {"a"}  # no scope in the answer: the requested ones
    assert outcome.expires_at == NOW + 300


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 3600},
        {"access_token": "", "expires_in": 3600},
        {"access_token": "a", "expires_in": -1},
        {"access_token": "a", "expires_in": True},
        {"access_token": "a", "expires_in": "soon"},
        {"access_token": "a", "token_type": 7},
        {"access_token": "a\r\nX-Evil: 1", "expires_in": 3600},
        {"access_token": "a b", "expires_in": 3600},
        {"access_token": "abc\n", "expires_in": 3600},
        {"access_token": "a", "token_type": "Bearer x", "expires_in": 3600},
        ["not", "an", "object"],
    ],
)
def test_classify_bad_success_bodies(body: object) -> None:
    outcome = classify_response(_response(200, body), NOW, client_id="c", scopes=["a"])
    assert isinstance(outcome, Fatal)
    assert not outcome.cooldown
    assert outcome.error.error == "invalid_response"


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "12"}, 12.0),
        (429, {"X-Rate-Limit-Reset": str(int(NOW) + 40)}, 40.0),
        (429, {}, None),
        (503, {"Retry-After": "3"}, 3.0),
        (500, {}, None),
        (504, {}, None),
    ],
)
def test_classify_retryable(status: int, headers: dict[str, str], wait: float | None) -> None:
    outcome = classify_response(_response(status, {}, headers), NOW, client_id="c", scopes=["a"])
    assert isinstance(outcome, Retry)
    assert outcome.wait == wait
    assert outcome.error.retryable


@pytest.mark.parametrize(
    ("status", "code", "cooldown"),
    [
        (401, "invalid_client", True),
        (400, "invalid_scope", True),
        (400, "unauthorized_client", True),
        (403, "access_denied", True),
        (400, "invalid_request", True),
        (400, "unsupported_grant_type", True),
        (418, "teapot", True),
    ],
)
def test_classify_fatal(status: int, code: str, cooldown: bool) -> None:
    outcome = classify_response(
        _response(status, {"error": code, "error_description": "Why\nnot\x00"}),
        NOW,
        client_id="c",
        scopes=["a"],
    )
    assert isinstance(outcome, Fatal)
    assert outcome.cooldown is cooldown
    assert "\n" not in outcome.error.description
    assert "\x00" not in outcome.error.description


def test_fetch_flow_retries_then_returns() -> None:
    clock = FakeClock(NOW)
    requests: list[HttpRequest] = []

    def build() -> HttpRequest:
        requests.append(HttpRequest(ISSUER + "/v1/token", method="POST"))
        return requests[-1]

    flow = token_fetch_flow(
        build, clock=clock, client_id="c", scopes=["a"], settings=RetrySettings(), rand=lambda: 1.0
    )
    assert isinstance(next(flow), HttpRequest)
    step = flow.send(HttpResponse(0, error="network", detail="ConnectError"))
    assert step == Sleep(0.5)
    assert isinstance(flow.send(None), HttpRequest)
    assert flow.send(_response(503)) == Sleep(1.0)
    assert isinstance(flow.send(None), HttpRequest)
    with pytest.raises(StopIteration) as stop:
        flow.send(_response(200, {"access_token": "x", "expires_in": 60}))
    assert isinstance(stop.value.value, Success)
    assert len(requests) == 3  # a fresh request (fresh assertion) per attempt


def test_retry_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetrySettings(max_attempts=0)
    with pytest.raises(ValueError, match="backoff_cap"):
        RetrySettings(backoff_cap=float("nan"))


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "No scopes"),
        ("", "No scopes"),
        (["openid"], "OpenID Connect"),
        (["orders:read", "profile"], "OpenID Connect"),
        (["okta.users.read"], "management API"),
        (["has space"], "not a valid"),
        (['quo"te'], "not a valid"),
        (["trailing\n"], "not a valid"),
    ],
)
def test_bad_scopes_are_configuration_errors(scopes: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TokenClient(ISSUER, "c", SECRET, scopes=scopes)  # type: ignore[arg-type]


def test_scopes_are_split_and_deduplicated() -> None:
    client = TokenClient(ISSUER, "c", SECRET, scopes="b a,b")
    assert client.scopes == ("b", "a")
    assert client.cache_key.scopes == ("a", "b")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"issuer": "https://dev-1.okta.com"}, "not a custom authorization server"),
        ({"issuer": "http://dev-1.okta.com/oauth2/default"}, "https"),
        ({"client_id": ""}, "client id is empty"),
        ({"client_id": " c"}, "white space"),
        ({"extra_params": {"scope": "x"}}, "set by the client"),
        ({"refresh_fraction": 2.0}, "refresh_fraction"),
    ],
)
def test_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    args = {"issuer": ISSUER, "client_id": "c", "client_secret": SECRET, "scopes": ["a"]}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=message):
        TokenClient(**args)  # type: ignore[arg-type]


def test_from_domain() -> None:
    client = TokenClient.from_domain("dev-123456.okta.com", "c", SECRET, scopes=["a"])
    assert client.issuer == ISSUER
    assert client.token_url == ISSUER + "/v1/token"
    other = TokenClient.from_domain(
        "https://dev-123456.okta.com", "c", SECRET, auth_server_id="aus1", scopes=["a"]
    )
    assert other.issuer == "https://dev-123456.okta.com/oauth2/aus1"


def test_from_env(tmp_path: pytest.TempPathFactory) -> None:
    env = {
        "OKTA_DOMAIN": "dev-123456.okta.com",
        "OKTA_CLIENT_ID": "c",
        "OKTA_CLIENT_SECRET": SECRET,
        "OKTA_SCOPES": "a, b",
        "OKTA_AUTH_METHOD": "client_secret_post",
    }
    client = TokenClient.from_env(env)
    assert client.issuer == ISSUER
    assert client.scopes == ("a", "b")
    assert client.auth_method == "client_secret_post"
    assert TokenClient.from_env(env, scopes=["z"]).scopes == ("z",)
    no_issuer = {k: v for k, v in env.items() if k != "OKTA_DOMAIN"}
    assert TokenClient.from_env(no_issuer, issuer=ISSUER).issuer == ISSUER
    with pytest.raises(ConfigurationError, match="OKTA_CLIENT_ID"):
        TokenClient.from_env({"OKTA_ISSUER": ISSUER, "OKTA_SCOPES": "a"})
    with pytest.raises(ConfigurationError, match="OKTA_SCOPES"):
        TokenClient.from_env({"OKTA_ISSUER": ISSUER, "OKTA_CLIENT_ID": "c"})
    with pytest.raises(ConfigurationError, match="OKTA_ISSUER"):
        TokenClient.from_env({"OKTA_CLIENT_ID": "c"})
    with pytest.raises(ConfigurationError, match="Cannot read the private key file"):
        TokenClient.from_env({**env, "OKTA_PRIVATE_KEY_FILE": "/nonexistent/key.pem"})


def test_secrets_and_tokens_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="okta_guard")
    okta = make_okta()
    client = make_client(okta)
    token = client.get_token()
    texts = [repr(client), repr(client.auth), repr(token), str(token), repr(Secret(SECRET))]
    texts.append(repr(client._fetcher.authenticator))
    okta.register_client("svc", "rotated", scopes=["orders:read"])
    with pytest.raises(TokenRequestError) as info:
        client.get_token(force_refresh=True)
    texts += [str(info.value), repr(info.value), info.value.description]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records  # something was logged
    for text in texts:
        assert SECRET not in text
        assert token.access_token not in text
    encoded = httpx.BasicAuth("svc", SECRET)._auth_header.split(" ")[1]
    assert all(encoded not in text for text in texts)
