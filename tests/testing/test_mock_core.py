"""MockIssuer core: URLs, discovery, keys, minting, token endpoint, faults, log, shells."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import jwt
import pytest

from okta_guard.testing import OMIT, FakeClock, MockIssuer, generate_signing_key

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "orders:read"}


@pytest.fixture
def okta() -> MockIssuer:
    issuer = MockIssuer()
    issuer.register_client("svc", "s3cret", scopes=["orders:read", "orders:write"])
    yield issuer
    issuer.close()


def _segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# -- URLs and discovery ------------------------------------------------------------


def test_in_process_issuer_urls(okta: MockIssuer) -> None:
    assert okta.issuer == "http://okta.localhost/oauth2/default"
    assert okta.jwks_uri == okta.issuer + "/v1/keys"
    assert okta.token_url == okta.issuer + "/v1/token"
    assert okta.audience == "api://default"


@pytest.mark.parametrize(
    ("path", "openid"),
    [
        ("/oauth2/default/.well-known/oauth-authorization-server", False),
        ("/oauth2/default/.well-known/openid-configuration", True),
        ("/.well-known/oauth-authorization-server/oauth2/default", False),
    ],
)
def test_discovery_documents(okta: MockIssuer, path: str, openid: bool) -> None:
    with okta.http_client() as client:
        response = client.get(path)
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == okta.issuer
    assert doc["jwks_uri"] == okta.jwks_uri
    assert doc["token_endpoint"] == okta.token_url
    assert doc["introspection_endpoint"] == okta.introspection_url
    assert doc["revocation_endpoint"] == okta.revocation_url
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert "orders:read" in doc["scopes_supported"]
    assert ("userinfo_endpoint" in doc) is openid
    assert [r.endpoint for r in okta.requests] == ["metadata"]


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/nope/v1/keys",
        "/oauth2/nope/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/oauth2/nope",
        "/oauth2/nope/v1/token",
    ],
)
def test_unknown_server_is_404(okta: MockIssuer, path: str) -> None:
    with okta.http_client() as client:
        response = client.get(path)
    assert response.status_code == 404
    assert response.json()["errorCode"] == "E0000007"
    assert "nope" in response.json()["errorSummary"]


def test_unknown_path_is_404_and_wrong_method_405(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        assert client.get("/nothing/here").status_code == 404
        assert client.get("/oauth2/default/v1/keys/").status_code == 404
        wrong = client.get("/oauth2/default/v1/token")
        assert wrong.status_code == 405
        assert wrong.json()["errorCode"] == "E0000022"
        assert client.post("/oauth2/default/v1/keys").status_code == 405


def test_several_auth_servers(okta: MockIssuer) -> None:
    other = okta.add_auth_server("aus1orders", audience="api://orders")
    assert other == "http://okta.localhost/oauth2/aus1orders"
    with okta.http_client() as client:
        doc = client.get("/oauth2/aus1orders/.well-known/oauth-authorization-server").json()
        default_keys = client.get("/oauth2/default/v1/keys").json()["keys"]
        other_keys = client.get("/oauth2/aus1orders/v1/keys").json()["keys"]
        token = client.post(
            "/oauth2/aus1orders/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret")
        ).json()["access_token"]
    assert doc["issuer"] == other
    assert {k["kid"] for k in default_keys}.isdisjoint({k["kid"] for k in other_keys})
    claims = _segment(token, 1)
    assert claims["iss"] == other
    assert claims["aud"] == "api://orders"
    assert okta.count("keys", server="aus1orders") == 1
    with pytest.raises(ValueError, match="already exists"):
        okta.add_auth_server("aus1orders")


# -- keys --------------------------------------------------------------------------


def test_jwks_shape_and_cache_headers(okta: MockIssuer) -> None:
    okta.jwks_max_age = 300
    with okta.http_client() as client:
        response = client.get("/oauth2/default/v1/keys")
    assert response.headers["cache-control"] == "max-age=300, must-revalidate"
    assert "expires" in response.headers
    keys = response.json()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert set(key) == {"kty", "alg", "kid", "use", "n", "e"}
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
        assert len(n) * 8 == 2048
    assert keys[0]["kid"] == okta.active_kid()


def test_rotation_lifecycle(okta: MockIssuer) -> None:
    first = okta.jwks()["keys"]
    active, nxt = first[0]["kid"], first[1]["kid"]
    new_active = okta.rotate_keys()
    assert new_active == nxt
    kids = [k["kid"] for k in okta.jwks()["keys"]]
    assert kids[0] == nxt and active in kids and len(kids) == 3
    okta.rotate_keys()
    kids = [k["kid"] for k in okta.jwks()["keys"]]
    assert active not in kids and nxt in kids and len(kids) == 3
    current = okta.active_kid()
    okta.rotate_keys(keep_previous=False)
    kids = [k["kid"] for k in okta.jwks()["keys"]]
    assert current not in kids and nxt in kids and len(kids) == 3
    okta.drop_expired_keys()
    assert [k["kid"] for k in okta.jwks()["keys"]] == kids[:2]


def test_scheduled_rotation_shortens_max_age_then_rotates() -> None:
    clock = FakeClock(1_800_000_000)
    okta = MockIssuer(clock=clock)
    try:
        first, nxt = (k["kid"] for k in okta.jwks()["keys"])
        okta.schedule_rotation(600)
        with okta.http_client() as client:
            near = client.get("/oauth2/default/v1/keys")
            clock.advance(599)
            assert okta.mint_token().split(".")[0] == okta.mint_token(key=first).split(".")[0]
            clock.advance(1)
            token = okta.mint_token()
            after = client.get("/oauth2/default/v1/keys")
        assert near.headers["cache-control"] == "max-age=600, must-revalidate"
        assert _segment(token, 0)["kid"] == nxt == okta.active_kid()
        assert after.headers["cache-control"].startswith("max-age=3801600")
        assert after.json()["keys"][0]["kid"] == nxt
    finally:
        okta.close()


def test_mock_issuers_alive_together_never_share_keys() -> None:
    with MockIssuer() as a, MockIssuer() as b:
        na = {k["n"] for k in a.jwks()["keys"]}
        nb = {k["n"] for k in b.jwks()["keys"]}
    assert na.isdisjoint(nb)


# -- minting -----------------------------------------------------------------------


def test_minted_token_is_shaped_like_okta() -> None:
    clock = FakeClock(1_800_000_000)
    okta = MockIssuer(clock=clock)
    try:
        token = okta.mint_token(scopes=["orders:read"], client_id="svc", claims={"tenant": "x"})
        header, claims = _segment(token, 0), _segment(token, 1)
        assert header == {"alg": "RS256", "kid": okta.active_kid()}
        assert claims["ver"] == 1
        assert str(claims["jti"]).startswith("AT.")
        assert claims["iss"] == okta.issuer
        assert claims["aud"] == "api://default"
        assert claims["iat"] == 1_800_000_000
        assert claims["exp"] == 1_800_003_600
        assert claims["cid"] == "svc" and claims["sub"] == "svc"
        assert claims["scp"] == ["orders:read"]
        assert claims["tenant"] == "x"
    finally:
        okta.close()


def test_mint_token_can_break_anything(okta: MockIssuer) -> None:
    token = okta.mint_token(
        claims={"exp": OMIT, "aud": ["a", "b"], "cnf": {"jkt": "abc"}},
        headers={"typ": "dpop+jwt", "kid": OMIT, "alg": "none"},
        expires_in=-10,
    )
    header, claims = _segment(token, 0), _segment(token, 1)
    assert header == {"alg": "none", "typ": "dpop+jwt"}
    assert "exp" not in claims and claims["aud"] == ["a", "b"]
    assert claims["cnf"] == {"jkt": "abc"}
    foreign = generate_signing_key()
    bad = okta.mint_token(key=foreign)
    assert _segment(bad, 0)["kid"] == foreign.kid
    next_signed = okta.mint_token(key="next")
    assert _segment(next_signed, 0)["kid"] == okta.jwks()["keys"][1]["kid"]
    with pytest.raises(KeyError):
        okta.mint_token(key="no-such-kid")


def test_minted_token_verifies_with_served_key(okta: MockIssuer) -> None:
    token = okta.mint_token(scopes=["orders:read"])
    jwks = jwt.PyJWKSet.from_dict(okta.jwks())
    key = next(k for k in jwks.keys if k.key_id == okta.active_kid())
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="api://default")
    assert claims["scp"] == ["orders:read"]


# -- token endpoint ----------------------------------------------------------------


def test_client_secret_basic_and_post(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        basic = client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
        post = client.post(
            "/oauth2/default/v1/token",
            data={**TOKEN_FORM, "client_id": "svc", "client_secret": "s3cret"},
        )
    for response in (basic, post):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["scope"] == "orders:read"
        assert response.headers["cache-control"] == "no-store"
        assert _segment(body["access_token"], 1)["cid"] == "svc"
    assert [r.auth_scheme for r in okta.requests] == ["Basic", None]


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        (TOKEN_FORM, None, 401, "invalid_client"),
        (TOKEN_FORM, ("svc", "wrong"), 401, "invalid_client"),
        (TOKEN_FORM, ("ghost", "s3cret"), 401, "invalid_client"),
        (
            {**TOKEN_FORM, "client_id": "svc", "client_secret": "s3cret"},
            ("svc", "s3cret"),
            400,
            "invalid_request",
        ),
        ({"scope": "orders:read"}, ("svc", "s3cret"), 400, "invalid_request"),
        (
            {**TOKEN_FORM, "grant_type": "password"},
            ("svc", "s3cret"),
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials"}, ("svc", "s3cret"), 400, "invalid_scope"),
        ({**TOKEN_FORM, "scope": "openid orders:read"}, ("svc", "s3cret"), 400, "invalid_scope"),
        ({**TOKEN_FORM, "scope": "nope:unknown"}, ("svc", "s3cret"), 400, "invalid_scope"),
        ({**TOKEN_FORM, "scope": "admin"}, ("svc", "s3cret"), 403, "access_denied"),
    ],
)
def test_token_errors_like_okta(
    okta: MockIssuer,
    data: dict[str, str],
    auth: tuple[str, str] | None,
    status: int,
    error: str,
) -> None:
    okta.register_client("admin-app", "x", scopes=["admin"])
    with okta.http_client() as client:
        response = client.post("/oauth2/default/v1/token", data=data, auth=auth)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert set(body) == {"error", "error_description"}


def test_token_endpoint_requires_form_encoding(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        response = client.post("/oauth2/default/v1/token", json=TOKEN_FORM, auth=("svc", "s3cret"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_basic_credentials_are_form_decoded(okta: MockIssuer) -> None:
    okta.register_client("odd id", "p@ss:wörd+", scopes=["orders:read"])
    raw = b"odd+id:p%40ss%3Aw%C3%B6rd%2B"
    header = "Basic " + base64.b64encode(raw).decode()
    with okta.http_client() as client:
        response = client.post(
            "/oauth2/default/v1/token", data=TOKEN_FORM, headers={"Authorization": header}
        )
    assert response.status_code == 200


def test_token_lifetime_follows_clock() -> None:
    clock = FakeClock(2_000_000_000)
    with MockIssuer(clock=clock, token_lifetime=300) as okta:
        okta.register_client("svc", "s", scopes=["a"])
        response = httpx.post(
            okta.token_url,
            data={"grant_type": "client_credentials", "scope": "a"},
            auth=("svc", "s"),
        )
    assert response.json()["expires_in"] == 300
    claims = _segment(response.json()["access_token"], 1)
    assert (claims["iat"], claims["exp"]) == (2_000_000_000, 2_000_000_300)


# -- faults, outage, log -----------------------------------------------------------


def test_fail_next_then_recover(okta: MockIssuer) -> None:
    okta.fail_next("keys", status=503, times=2, headers={"Retry-After": "7"})
    with okta.http_client() as client:
        statuses = [client.get("/oauth2/default/v1/keys") for _ in range(3)]
        other = client.get("/oauth2/default/.well-known/openid-configuration")
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["retry-after"] == "7"
    assert other.status_code == 200
    assert okta.keys_fetches == 3


def test_fail_next_custom_bodies_and_oauth_defaults(okta: MockIssuer) -> None:
    okta.fail_next("token", status=400, body={"error": "invalid_grant"})
    okta.fail_next("token", status=500, body="<html>oops</html>")
    okta.fail_next("token", status=401)
    with okta.http_client() as client:
        first = client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
        second = client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
        third = client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
    assert first.json() == {"error": "invalid_grant"}
    assert (second.status_code, second.text) == (500, "<html>oops</html>")
    assert third.json()["error"] == "invalid_client"


def test_fail_next_429_looks_like_okta(okta: MockIssuer) -> None:
    okta.fail_next("token", status=429)
    with okta.http_client() as client:
        response = client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
    assert response.status_code == 429
    assert response.json()["errorCode"] == "E0000047"
    assert int(response.headers["x-rate-limit-reset"]) > 0
    assert response.headers["x-rate-limit-remaining"] == "0"
    assert response.headers["x-rate-limit-limit"] == "600"


def test_fail_next_429_concurrency_shape_and_configured_limit() -> None:
    clock = FakeClock(1_800_000_010)
    okta = MockIssuer(clock=clock, rate_limit={"keys": 50})
    try:
        okta.fail_next("keys", status=429)
        okta.fail_next("keys", status=429, headers={"X-Rate-Limit-Limit": "0"})
        with okta.http_client() as client:
            first = client.get("/oauth2/default/v1/keys")
            second = client.get("/oauth2/default/v1/keys")
        assert first.headers["x-rate-limit-limit"] == "50"
        assert first.headers["x-rate-limit-reset"] == "1800000060"
        assert (second.headers["x-rate-limit-limit"], second.headers["x-rate-limit-remaining"]) == (
            "0",
            "0",
        )
    finally:
        okta.close()


def test_fail_next_rejects_unknown_endpoint(okta: MockIssuer) -> None:
    with pytest.raises(ValueError, match="unknown endpoint"):
        okta.fail_next("jwks")
    with pytest.raises(ValueError, match="times"):
        okta.fail_next("keys", times=0)


def test_disconnect_raises_transport_error(okta: MockIssuer) -> None:
    okta.fail_next("keys", disconnect=True)
    with okta.http_client() as client, pytest.raises(httpx.TransportError):
        client.get("/oauth2/default/v1/keys")


def test_delay_beyond_read_timeout_times_out(okta: MockIssuer) -> None:
    okta.fail_next("keys", status=None, delay=5.0)
    with okta.http_client(timeout=0.01) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/oauth2/default/v1/keys")


def test_sustained_outage(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        with okta.outage("keys"):
            codes = [client.get("/oauth2/default/v1/keys").status_code for _ in range(5)]
            meta = client.get("/oauth2/default/.well-known/oauth-authorization-server")
        after = client.get("/oauth2/default/v1/keys")
    assert codes == [503] * 5
    assert meta.status_code == 200
    assert after.status_code == 200


def test_request_log_hides_secrets(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        client.post(
            "/oauth2/default/v1/token",
            data={**TOKEN_FORM, "client_id": "svc", "client_secret": "s3cret"},
        )
        client.post("/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
    post, basic = okta.requests
    assert post.form["client_secret"] == "s3cret"
    assert post.secret_free_form["client_secret"] == "***"
    assert "s3cret" not in repr(post)
    assert "Basic" not in repr(basic) and "authorization" in basic.headers
    assert (post.method, post.endpoint, post.server_id, post.status) == (
        "POST",
        "token",
        "default",
        200,
    )
    okta.clear_requests()
    assert okta.requests == []


# -- shells ------------------------------------------------------------------------


async def test_async_transport(okta: MockIssuer) -> None:
    async with okta.async_http_client() as client:
        keys = await client.get("/oauth2/default/v1/keys")
        token = await client.post(
            "/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret")
        )
    assert keys.status_code == 200 and token.status_code == 200


async def test_asgi_app(okta: MockIssuer) -> None:
    transport = httpx.ASGITransport(app=okta.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://okta.localhost") as client:
        keys = await client.get("/oauth2/default/v1/keys")
        token = await client.post(
            "/oauth2/default/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret")
        )
    assert keys.json() == okta.jwks()
    assert token.json()["token_type"] == "Bearer"


def test_real_server_context_manager() -> None:
    with MockIssuer() as okta:
        assert okta.running and okta.port
        assert okta.issuer == f"http://127.0.0.1:{okta.port}/oauth2/default"
        okta.register_client("svc", "s", scopes=["a"])
        with httpx.Client() as client:
            meta = client.get(okta.metadata_url).json()
            token = client.post(
                meta["token_endpoint"],
                data={"grant_type": "client_credentials", "scope": "a"},
                auth=("svc", "s"),
            )
            keys = client.get(meta["jwks_uri"])
        assert meta["issuer"] == okta.issuer
        assert token.status_code == 200
        assert keys.json() == okta.jwks()
        url = okta.jwks_uri
    assert not okta.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    with pytest.raises(RuntimeError, match="closed"):
        okta.mint_token()


def test_real_server_disconnect_and_transport_reuse() -> None:
    with MockIssuer() as okta:
        okta.fail_next("keys", disconnect=True)
        with httpx.Client() as client:
            with pytest.raises(httpx.TransportError):
                client.get(okta.jwks_uri)
            assert client.get(okta.jwks_uri).status_code == 200
        with okta.http_client() as in_process:
            assert in_process.get(okta.jwks_uri).status_code == 200


def test_fixture_is_in_process(okta_issuer: MockIssuer) -> None:
    assert not okta_issuer.running
    assert okta_issuer.issuer == "http://okta.localhost/oauth2/default"


@pytest.mark.okta_issuer(audience="api://orders", clock="fake_clock")
def test_fixture_marker_options(okta_issuer: MockIssuer, fake_clock: FakeClock) -> None:
    assert okta_issuer.audience == "api://orders"
    assert _segment(okta_issuer.mint_token(), 1)["iat"] == int(fake_clock())


def test_server_fixture(okta_issuer_server: MockIssuer) -> None:
    assert okta_issuer_server.running
    assert httpx.get(okta_issuer_server.jwks_uri).status_code == 200


def test_log_limit_keeps_counts_exact() -> None:
    okta = MockIssuer(log_limit=2)
    try:
        with okta.http_client() as client:
            for _ in range(3):
                client.get("/oauth2/default/v1/keys")
        assert len(okta.requests) == 2
        assert okta.keys_fetches == 3
        okta.clear_requests()
        assert okta.keys_fetches == 0
    finally:
        okta.close()


def test_real_server_reads_chunked_bodies() -> None:
    with MockIssuer() as okta:
        okta.register_client("svc", "s", scopes=["a"])

        def body() -> Iterator[bytes]:
            yield b"grant_type=client_credentials"
            yield b"&scope=a"

        response = httpx.post(
            okta.token_url,
            content=body(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=("svc", "s"),
        )
    assert response.status_code == 200, response.text
    assert okta.requests[-1].form == {"grant_type": "client_credentials", "scope": "a"}


def test_freed_issuer_keys_are_reused_with_new_kids() -> None:
    first = MockIssuer()
    old = {(k["n"], k["kid"]) for k in first.jwks()["keys"]}
    del first  # no reference cycles: freed (and its keys pooled) right here
    second = MockIssuer()
    try:
        new = {(k["n"], k["kid"]) for k in second.jwks()["keys"]}
        assert {n for n, _ in new} == {n for n, _ in old}  # same private keys, from the pool
        assert {kid for _, kid in new}.isdisjoint({kid for _, kid in old})
    finally:
        second.close()
