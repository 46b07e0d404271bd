"""MockIssuer never crashes on odd input, and its delays behave on every shell."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okta_guard.testing import MockIssuer, MockRequest

_okta = MockIssuer()
_okta.register_client("svc", "s3cret", scopes=["orders:read"])

PATHS = st.one_of(
    st.sampled_from(
        [
            "/oauth2/default/v1/token",
            "/oauth2/default/v1/introspect",
            "/oauth2/default/v1/revoke",
            "/oauth2/default/v1/keys",
            "/oauth2/default/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/oauth2/default",
        ]
    ),
    st.text(alphabet="/abcdefgh.%?-_2", max_size=40).map(lambda p: "/" + p),
)
FORM_KEYS = st.sampled_from(
    [
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "token",
        "token_type_hint",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
    path=PATHS,
    form=st.dictionaries(FORM_KEYS, st.text(max_size=30), max_size=5),
    raw=st.binary(max_size=64),
    use_raw=st.booleans(),
    authorization=st.one_of(
        st.none(), st.text(max_size=30), st.just("Basic c3ZjOnMzY3JldA=="), st.just("Basic !!")
    ),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "", "text/plain; x=y"]
    ),
)
def test_handler_always_answers_well_formed(
    method: str,
    path: str,
    form: dict[str, str],
    raw: bytes,
    use_raw: bool,
    authorization: str | None,
    content_type: str,
) -> None:
    body = raw if use_raw else httpx.QueryParams(form).__str__().encode()
    headers = {"content-type": content_type}
    if authorization is not None:
        headers["authorization"] = authorization
    response = _okta.handle(MockRequest.build(method, path, headers, body))
    assert response.status in {200, 400, 401, 403, 404, 405, 429}
    if response.body:
        payload = json.loads(response.body)
        assert isinstance(payload, dict)
        if response.status >= 400:
            assert "error" in payload or "errorCode" in payload
    assert "s3cret" not in response.body.decode()


def test_real_server_delay_hits_client_timeout() -> None:
    with MockIssuer() as okta:
        okta.fail_next("keys", status=None, delay=0.3)
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(okta.jwks_uri, timeout=0.05)
        assert httpx.get(okta.jwks_uri).status_code == 200


def test_real_server_serves_concurrent_clients() -> None:
    with MockIssuer() as okta:
        okta.register_client("svc", "s", scopes=["a"])
        statuses: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            with httpx.Client() as client:
                for _ in range(5):
                    response = client.post(
                        okta.token_url,
                        data={"grant_type": "client_credentials", "scope": "a"},
                        auth=("svc", "s"),
                    )
                    with lock:
                        statuses.append(response.status_code)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 20
    assert okta.count("token") == 20


async def test_async_transport_delay_and_timeout() -> None:
    okta = MockIssuer()
    try:
        okta.fail_next("keys", status=None, delay=0.02)
        okta.fail_next("keys", status=None, delay=5.0)
        async with okta.async_http_client(timeout=0.05) as client:
            slow = await client.get("/oauth2/default/v1/keys")
            assert slow.status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/oauth2/default/v1/keys")
            okta.fail_next("keys", disconnect=True)
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/oauth2/default/v1/keys")
    finally:
        okta.close()


def test_request_form_is_parsed_once_and_each_caller_gets_its_own_copy() -> None:
    request = MockRequest.build("POST", "/t", {}, b"scope=a&scope=b&x=&bad=%ff")
    first = request.form()
    first["scope"] = "changed"
    assert request.form() == {"scope": "b", "x": "", "bad": "\ufffd"}
    assert request == MockRequest.build("POST", "/t", {}, b"scope=a&scope=b&x=&bad=%ff")
    assert MockRequest.build("POST", "/t", {}, b"\xff=1").form() == {}
