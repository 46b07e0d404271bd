"""Okta's rate-limit headers on every token/introspect/revoke answer, and the 50 % app share."""

from __future__ import annotations

import httpx
import pytest

from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.testing.ratelimit import OKTA_DEFAULT_LIMITS

NOW = 1_800_000_000
FORM = {"grant_type": "client_credentials", "scope": "orders:read"}


def _okta(**kwargs: object) -> MockIssuer:
    okta = MockIssuer(clock=FakeClock(NOW), **kwargs)  # type: ignore[arg-type]
    okta.register_client("svc", "s3cret", scopes=["orders:read"])
    okta.register_client("other", "s3cret", scopes=["orders:read"])
    return okta


def _calls(client: httpx.Client, okta: MockIssuer) -> dict[str, httpx.Response]:
    token = client.post(okta.token_url, data=FORM, auth=("svc", "s3cret"))
    value = token.json()["access_token"]
    return {
        "token": token,
        "token error": client.post(okta.token_url, data=FORM, auth=("svc", "wrong")),
        "introspect": client.post(
            okta.introspection_url, data={"token": value}, auth=("svc", "s3cret")
        ),
        "revoke": client.post(okta.revocation_url, data={"token": value}, auth=("svc", "s3cret")),
    }


def test_rate_limited_endpoints_always_send_the_three_headers() -> None:
    okta = _okta()
    try:
        with okta.http_client() as client:
            answers = _calls(client, okta)
            keys = client.get(okta.jwks_uri)
            discovery = client.get(okta.metadata_url)
    finally:
        okta.close()
    for name, response in answers.items():
        headers = response.headers
        assert headers["x-rate-limit-limit"] == "300", name  # 50 % of Okta's 600 for one app
        assert int(headers["x-rate-limit-remaining"]) < 300, name
        assert headers["x-rate-limit-reset"] == str(NOW + 60), name
    for response in (keys, discovery):
        assert not any(h.startswith("x-rate-limit") for h in response.headers)
    assert set(OKTA_DEFAULT_LIMITS) == {"token", "introspect", "revoke"}


def test_unauthenticated_requests_report_the_whole_bucket() -> None:
    okta = _okta()
    try:
        with okta.http_client() as client:
            response = client.post(okta.token_url, data=FORM)
    finally:
        okta.close()
    assert response.status_code == 401
    assert (response.headers["x-rate-limit-limit"], response.headers["x-rate-limit-remaining"]) == (
        "600",
        "599",
    )


def test_one_app_may_use_half_of_a_bucket() -> None:
    okta = _okta(rate_limit={"token": 4})
    try:
        with okta.http_client() as client:
            svc = [client.post(okta.token_url, data=FORM, auth=("svc", "s3cret")) for _ in range(3)]
            other = [
                client.post(okta.token_url, data=FORM, auth=("other", "s3cret")) for _ in range(3)
            ]
    finally:
        okta.close()
    assert [r.status_code for r in svc] == [200, 200, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in svc] == ["1", "0", "0"]
    assert {r.headers["x-rate-limit-limit"] for r in svc} == {"2"}
    assert [r.status_code for r in other] == [200, 200, 429]
    assert svc[2].json()["errorCode"] == "E0000047"


def test_bucket_limit_applies_across_apps() -> None:
    okta = _okta(rate_limit={"token": 4}, app_rate_share=1.0)
    try:
        with okta.http_client() as client:
            svc = [client.post(okta.token_url, data=FORM, auth=("svc", "s3cret")) for _ in range(3)]
            other = [
                client.post(okta.token_url, data=FORM, auth=("other", "s3cret")) for _ in range(2)
            ]
    finally:
        okta.close()
    assert [r.status_code for r in svc + other] == [200, 200, 200, 200, 429]


def test_app_is_recognised_by_post_body_and_assertion_too() -> None:
    okta = _okta(rate_limit={"introspect": 2})
    try:
        with okta.http_client() as client:
            first = client.post(
                okta.introspection_url,
                data={"token": "x", "client_id": "svc", "client_secret": "s3cret"},
            )
            second = client.post(
                okta.introspection_url,
                data={"token": "x", "client_id": "svc", "client_secret": "s3cret"},
            )
    finally:
        okta.close()
    assert first.status_code == 200 and first.headers["x-rate-limit-limit"] == "1"
    assert second.status_code == 429


def test_default_limit_is_enforced_and_none_restores_it() -> None:
    okta = _okta()
    try:
        okta.set_rate_limit(10**6, "token")
        okta.set_rate_limit(None, "token")
        with okta.http_client() as client:
            statuses = [
                client.post(okta.token_url, data=FORM, auth=("svc", "s3cret")).status_code
                for _ in range(301)
            ]
    finally:
        okta.close()
    assert statuses.count(200) == 300 and statuses[-1] == 429


def test_app_share_is_checked() -> None:
    with pytest.raises(ValueError, match="app_share"):
        MockIssuer(app_rate_share=0)
