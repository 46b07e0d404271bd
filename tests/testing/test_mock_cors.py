"""CORS like Okta's Trusted Origins: preflights and Access-Control-* headers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from okta_guard.testing import MockIssuer
from okta_guard.testing.cors import CorsPolicy, normalize_origin

CLI = [sys.executable, "-m", "okta_guard"]
PATHS = {
    "token": ("/oauth2/default/v1/token", "POST"),
    "introspect": ("/oauth2/default/v1/introspect", "POST"),
    "revoke": ("/oauth2/default/v1/revoke", "POST"),
    "keys": ("/oauth2/default/v1/keys", "GET"),
    "metadata": ("/oauth2/default/.well-known/openid-configuration", "GET"),
}


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer(cors_origins=["https://docs.example.com", "http://localhost:8000"])
    issuer.register_client("svc", "s3cret", scopes=["orders:read"])
    yield issuer
    issuer.close()


def _preflight(
    client: httpx.Client, path: str, origin: str, method: str, headers: str = ""
) -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=asked)


@pytest.mark.parametrize("endpoint", sorted(PATHS))
def test_preflight_from_a_trusted_origin(okta: MockIssuer, endpoint: str) -> None:
    path, method = PATHS[endpoint]
    with okta.http_client() as client:
        response = _preflight(
            client, path, "https://docs.example.com", method, "authorization, content-type, x-evil"
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://docs.example.com"
    assert method in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"
    assert response.headers["vary"] == "Origin"
    assert int(response.headers["access-control-max-age"]) > 0
    assert okta.requests[-1].method == "OPTIONS" and okta.requests[-1].endpoint == endpoint


def test_preflight_from_an_untrusted_origin_is_refused(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        untrusted = _preflight(client, PATHS["token"][0], "https://evil.example", "POST")
        wrong_method = _preflight(client, PATHS["keys"][0], "https://docs.example.com", "DELETE")
        loopback = _preflight(client, PATHS["token"][0], "http://127.0.0.1:9999", "POST")
    for response in (untrusted, wrong_method, loopback):  # a list trusts exactly its origins
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers
        assert response.json()["errorCode"] == "E0000006"


def test_answers_carry_cors_headers_for_trusted_origins_only(okta: MockIssuer) -> None:
    form = {"grant_type": "client_credentials", "scope": "orders:read"}
    with okta.http_client() as client:
        token = client.post(
            PATHS["token"][0],
            data=form,
            auth=("svc", "s3cret"),
            headers={"Origin": "http://localhost:8000"},
        )
        refused = client.post(
            PATHS["token"][0],
            data=form,
            auth=("svc", "nope"),
            headers={"Origin": "http://localhost:8000"},
        )
        foreign = client.get(PATHS["keys"][0], headers={"Origin": "https://evil.example"})
        plain = client.get(PATHS["keys"][0])
    assert token.status_code == 200
    assert token.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert token.headers["access-control-allow-credentials"] == "true"
    assert "x-rate-limit-remaining" in token.headers["access-control-expose-headers"]
    assert refused.status_code == 401  # errors too, so the page can read them
    assert refused.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "access-control-allow-origin" not in foreign.headers
    assert "access-control-allow-origin" not in plain.headers


def test_loopback_origins_are_trusted_by_default() -> None:
    policy = CorsPolicy()
    assert policy.allows("http://127.0.0.1:8000")
    assert policy.allows("http://localhost:3000")
    assert policy.allows("https://[::1]:8443")
    assert policy.allows("http://127.0.0.2")
    assert not policy.allows("https://docs.example.com")
    assert not policy.allows("http://127.0.0.1.evil.example")
    assert not policy.allows("null")


def test_preflight_is_not_a_fault_or_a_rate_limited_request() -> None:
    okta = MockIssuer(rate_limit={"token": 1})
    try:
        okta.fail_next("token", 503)
        with okta.http_client() as client:
            preflight = _preflight(client, PATHS["token"][0], "http://127.0.0.1:8000", "POST")
            answer = client.post(PATHS["token"][0], data={})
        assert preflight.status_code == 200
        assert "x-rate-limit-limit" not in preflight.headers
        assert answer.status_code == 503  # the fault was kept for the real request
    finally:
        okta.close()


def test_options_without_preflight_headers_is_still_405(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        response = client.options(PATHS["token"][0])
    assert response.status_code == 405


def test_cors_on_the_loopback_server() -> None:
    with MockIssuer() as okta:
        origin = "http://localhost:8000"
        with httpx.Client(trust_env=False) as client:
            response = _preflight(client, okta.token_url, origin, "POST", "authorization")
        assert response.status_code == 200 and response.content == b""
        assert response.headers["access-control-allow-origin"] == origin


def test_origins_are_normalised_and_checked() -> None:
    assert normalize_origin("HTTPS://Docs.Example.com:443/") == "https://docs.example.com"
    assert normalize_origin("http://localhost:80") == "http://localhost"
    assert normalize_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("docs.example.com", "ftp://x", "https://x/docs", "https://u@x"):
        with pytest.raises(ValueError, match="origin"):
            normalize_origin(bad)
    with pytest.raises(ValueError, match="origin"):
        MockIssuer(cors_origins=["https://x/docs"])


def test_cli_cors_origin_option() -> None:
    proc = subprocess.Popen(
        [*CLI, "mock-issuer", "--port", "0", "--cors-origin", "https://docs.example.com/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        issuer = proc.stdout.readline().strip()
        with httpx.Client(trust_env=False) as client:
            trusted = _preflight(client, issuer + "/v1/token", "https://docs.example.com", "POST")
            loopback = _preflight(client, issuer + "/v1/token", "http://localhost:8000", "POST")
        assert trusted.status_code == 200
        assert trusted.headers["access-control-allow-origin"] == "https://docs.example.com"
        assert loopback.status_code == 403  # the list replaces the loopback default
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_cli_refuses_a_bad_cors_origin(capsys: pytest.CaptureFixture[str]) -> None:
    from okta_guard.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["mock-issuer", "--port", "0", "--cors-origin", "https://x/docs"])
    assert exc.value.code == 2
    assert "must not have a path" in capsys.readouterr().err
