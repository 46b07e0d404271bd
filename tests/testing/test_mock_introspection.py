"""MockIssuer /v1/introspect and /v1/revoke, and Okta's per-minute rate limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from okta_guard.testing import FakeClock, MockIssuer, generate_signing_key

NOW = 1_800_000_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW + 5)


@pytest.fixture
def okta(clock: FakeClock) -> MockIssuer:
    issuer = MockIssuer(clock=clock)
    issuer.register_client("svc", "s3cret", scopes=["orders:read"])
    issuer.register_client("other", "0ther", scopes=["orders:read"])
    yield issuer
    issuer.close()


def _post(
    okta: MockIssuer, endpoint: str, data: dict[str, str], auth: Any = ("svc", "s3cret")
) -> httpx.Response:
    with okta.http_client() as client:
        return client.post(f"/oauth2/default/v1/{endpoint}", data=data, auth=auth)


def _active(okta: MockIssuer, token: str) -> bool:
    response = _post(okta, "introspect", {"token": token, "token_type_hint": "access_token"})
    assert response.status_code == 200
    active = response.json()["active"]
    assert isinstance(active, bool)
    return active


def test_introspect_active_token_reports_claims(okta: MockIssuer) -> None:
    token = okta.mint_token(scopes=["orders:read", "x"], client_id="svc", issued_at=NOW)
    body = _post(okta, "introspect", {"token": token}).json()
    assert body["active"] is True
    assert body["scope"] == "orders:read x"
    assert body["client_id"] == "svc" and body["sub"] == "svc"
    assert body["iss"] == okta.issuer and body["aud"] == "api://default"
    assert body["exp"] == NOW + 3600 and body["iat"] == NOW
    assert body["token_type"] == "Bearer"
    assert body["jti"].startswith("AT.")


def test_introspect_inactive_cases(okta: MockIssuer, clock: FakeClock) -> None:
    other_server = okta.add_auth_server("aus2")
    assert other_server
    with MockIssuer() as foreign:
        foreign_token = foreign.mint_token()
    cases = {
        "expired": okta.mint_token(expires_in=-1),
        "foreign server": okta.mint_token(server="aus2"),
        "foreign issuer": foreign_token,
        "unknown key": okta.mint_token(key=generate_signing_key()),
        "wrong iss": okta.mint_token(claims={"iss": "https://evil/oauth2/default"}),
        "garbage": "garbage",
        "tampered": okta.mint_token()[:-4] + "AAAA",
        "no exp": okta.mint_token(claims={"exp": "soon"}),
    }
    for name, token in cases.items():
        assert _active(okta, token) is False, name
    live = okta.mint_token(expires_in=60)
    assert _active(okta, live) is True
    clock.advance(60)
    assert _active(okta, live) is False


def test_introspect_requires_client_auth_and_token(okta: MockIssuer) -> None:
    token = okta.mint_token()
    no_auth = _post(okta, "introspect", {"token": token}, auth=None)
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "invalid_client")
    bad_auth = _post(okta, "introspect", {"token": token}, auth=("svc", "nope"))
    assert bad_auth.status_code == 401
    missing = _post(okta, "introspect", {})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    hint = _post(okta, "introspect", {"token": token, "token_type_hint": "weird"})
    assert hint.status_code == 400


def test_keys_from_rotation_still_introspect(okta: MockIssuer) -> None:
    token = okta.mint_token()
    okta.rotate_keys(keep_previous=False)
    assert _active(okta, token) is True


def test_revoke_makes_token_inactive(okta: MockIssuer) -> None:
    token = okta.mint_token(client_id="svc")
    response = _post(okta, "revoke", {"token": token, "token_type_hint": "access_token"})
    assert response.status_code == 200 and response.content == b""
    assert _active(okta, token) is False


def test_revoke_unknown_token_is_200(okta: MockIssuer) -> None:
    assert _post(okta, "revoke", {"token": "whatever"}).status_code == 200


def test_revoke_only_own_tokens(okta: MockIssuer) -> None:
    token = okta.mint_token(client_id="svc")
    assert _post(okta, "revoke", {"token": token}, auth=("other", "0ther")).status_code == 200
    assert _active(okta, token) is True


def test_revoke_requires_client_auth(okta: MockIssuer) -> None:
    token = okta.mint_token(client_id="svc")
    assert _post(okta, "revoke", {"token": token}, auth=None).status_code == 401
    assert _post(okta, "revoke", {}).status_code == 400
    assert _active(okta, token) is True


def test_direct_revoke_helper(okta: MockIssuer) -> None:
    token = okta.mint_token()
    okta.revoke(token)
    assert _active(okta, token) is False


def test_token_from_token_endpoint_introspects(okta: MockIssuer) -> None:
    response = _post(okta, "token", {"grant_type": "client_credentials", "scope": "orders:read"})
    assert _active(okta, response.json()["access_token"]) is True


# -- rate limits -------------------------------------------------------------------


def test_rate_limit_headers_and_429(clock: FakeClock) -> None:
    clock.set(NOW)
    okta = MockIssuer(clock=clock, rate_limit={"keys": 3})
    try:
        with okta.http_client() as client:
            responses = [client.get("/oauth2/default/v1/keys") for _ in range(4)]
            meta = client.get("/oauth2/default/.well-known/oauth-authorization-server")
            clock.advance(60)
            after = client.get("/oauth2/default/v1/keys")
    finally:
        okta.close()
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["x-rate-limit-limit"] for r in responses} == {"3"}
    assert {r.headers["x-rate-limit-reset"] for r in responses} == {str(NOW + 60)}
    limited = responses[3].json()
    assert limited["errorCode"] == "E0000047"
    assert limited["errorSummary"].startswith("You exceeded the maximum number of requests")
    assert "x-rate-limit-limit" not in meta.headers
    assert after.status_code == 200
    assert after.headers["x-rate-limit-reset"] == str(NOW + 120)


def test_rate_limit_is_per_endpoint_and_server(clock: FakeClock) -> None:
    okta = MockIssuer(clock=clock, rate_limit=1)
    okta.add_auth_server("aus2")
    try:
        with okta.http_client() as client:
            assert client.get("/oauth2/default/v1/keys").status_code == 200
            assert client.get("/oauth2/default/v1/keys").status_code == 429
            assert client.get("/oauth2/aus2/v1/keys").status_code == 200
            meta = client.get("/oauth2/default/.well-known/openid-configuration")
            assert meta.status_code == 200
        okta.set_rate_limit(None)
        with okta.http_client() as client:
            assert client.get("/oauth2/default/v1/keys").status_code == 200
    finally:
        okta.close()


def test_rate_limited_token_endpoint_keeps_oauth_errors_apart(clock: FakeClock) -> None:
    okta = MockIssuer(clock=clock)
    okta.register_client("svc", "s", scopes=["a"])
    okta.set_rate_limit(1, "token")
    try:
        data = {"grant_type": "client_credentials", "scope": "a"}
        with okta.http_client() as client:
            ok = client.post("/oauth2/default/v1/token", data=data, auth=("svc", "s"))
            limited = client.post("/oauth2/default/v1/token", data=data, auth=("svc", "s"))
        assert ok.status_code == 200 and ok.headers["x-rate-limit-remaining"] == "0"
        assert limited.status_code == 429
        assert "error" not in limited.json()
    finally:
        okta.close()
