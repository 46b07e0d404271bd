"""Fidelity: real clients and verifiers treat the mock issuer like Okta.

* Okta's own ``okta-jwt-verifier`` (over https, with a ``trustme`` certificate);
* authlib's httpx OAuth2 client (client_secret_basic, client_secret_post,
  private_key_jwt, error bodies);
* PyJWT's ``PyJWKClient`` before and after key rotation;
* httpx-auth's ``OktaClientCredentials`` flow.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import authlib.deprecate  # installs an "always" filter; ours must come after it
import jwt
import pytest
import trustme

from okta_guard.testing import MockIssuer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client, OAuthError
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return server_context, bundle


@pytest.fixture
def tls_okta(tls: tuple[ssl.SSLContext, Path]) -> Iterator[MockIssuer]:
    with MockIssuer(ssl_context=tls[0]) as okta:
        yield okta


# -- okta-jwt-verifier -------------------------------------------------------------


def _okta_verifier(issuer: str, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from okta_jwt_verifier import AccessTokenVerifier

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    return AccessTokenVerifier(issuer=issuer, audience="api://default")


def test_okta_jwt_verifier_accepts_minted_tokens(
    tls_okta: MockIssuer, tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from okta_jwt_verifier.exceptions import JWTValidationException

    assert tls_okta.issuer.startswith("https://127.0.0.1:")
    verifier = _okta_verifier(tls_okta.issuer, tls[1], monkeypatch)
    verifier.verify_sync(tls_okta.mint_token(scopes=["orders:read"], client_id="svc"))
    assert tls_okta.keys_fetches == 1
    with pytest.raises(JWTValidationException):
        verifier.verify_sync(tls_okta.mint_token(audience="api://other"))
    with pytest.raises(JWTValidationException):
        verifier.verify_sync(tls_okta.mint_token(expires_in=-600))


def test_okta_jwt_verifier_accepts_token_endpoint_tokens(
    tls_okta: MockIssuer, tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    tls_okta.register_client("svc", "s3cret", scopes=["orders:read"])
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls[1]))) as client:
        response = client.post(
            tls_okta.token_url,
            data={"grant_type": "client_credentials", "scope": "orders:read"},
            auth=("svc", "s3cret"),
        )
    token = response.json()["access_token"]
    _okta_verifier(tls_okta.issuer, tls[1], monkeypatch).verify_sync(token)


# -- authlib -----------------------------------------------------------------------


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer()
    issuer.register_client("svc", "s3cret", scopes=["orders:read", "orders:write"])
    yield issuer
    issuer.close()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials(okta: MockIssuer, method: str) -> None:
    with OAuth2Client(
        "svc",
        "s3cret",
        scope="orders:read orders:write",
        token_endpoint_auth_method=method,
        transport=okta.transport,
    ) as client:
        token = client.fetch_token(okta.token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "orders:read orders:write"
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["cid"] == "svc"
    sent = okta.requests[-1]
    assert (sent.auth_scheme == "Basic") is (method == "client_secret_basic")
    assert ("client_secret" in sent.form) is (method == "client_secret_post")


@pytest.mark.parametrize(
    ("secret", "scope", "error"),
    [
        ("wrong", "orders:read", "invalid_client"),
        ("s3cret", "orders:delete", "invalid_scope"),
        ("s3cret", "openid", "invalid_scope"),
    ],
)
def test_authlib_sees_okta_errors(okta: MockIssuer, secret: str, scope: str, error: str) -> None:
    with (
        OAuth2Client("svc", secret, scope=scope, transport=okta.transport) as client,
        pytest.raises(OAuthError) as exc,
    ):
        client.fetch_token(okta.token_url, grant_type="client_credentials")
    assert exc.value.error == error
    assert exc.value.description


async def test_authlib_async_client(okta: MockIssuer) -> None:
    async with AsyncOAuth2Client(
        "svc", "s3cret", scope="orders:read", transport=okta.transport
    ) as client:
        token = await client.fetch_token(okta.token_url, grant_type="client_credentials")
    assert token["scope"] == "orders:read"


def test_authlib_private_key_jwt(okta: MockIssuer) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    okta.register_client("jwt-app", scopes=["orders:read"], public_key=key.public_key())
    with OAuth2Client(
        "jwt-app",
        pem.decode(),
        scope="orders:read",
        token_endpoint_auth_method=PrivateKeyJWT(okta.token_url),
        transport=okta.transport,
    ) as client:
        token = client.fetch_token(okta.token_url, grant_type="client_credentials")
        sent = okta.requests[-1].form
        assert sent["client_assertion_type"].endswith("jwt-bearer")
        again = client.fetch_token(okta.token_url, grant_type="client_credentials")
    assert token["token_type"] == again["token_type"] == "Bearer"


# -- PyJWT PyJWKClient -------------------------------------------------------------


def _verify(client: jwt.PyJWKClient, okta: MockIssuer, token: str) -> dict[str, Any]:
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token, key.key, algorithms=["RS256"], audience=okta.audience, issuer=okta.issuer
    )


def test_pyjwkclient_across_rotation() -> None:
    with MockIssuer() as okta:
        client = jwt.PyJWKClient(okta.jwks_uri, cache_keys=True, lifespan=3600, cooldown_duration=0)
        before = okta.mint_token(scopes=["a"])
        assert _verify(client, okta, before)["scp"] == ["a"]
        fetches = okta.keys_fetches
        okta.rotate_keys()
        after = okta.mint_token(scopes=["b"])
        # the NEXT key was already published, so no refetch is needed
        assert _verify(client, okta, after)["scp"] == ["b"]
        assert okta.keys_fetches == fetches
        okta.rotate_keys()
        okta.rotate_keys()
        latest = okta.mint_token(scopes=["c"])
        assert _verify(client, okta, latest)["scp"] == ["c"]
        assert okta.keys_fetches > fetches
        fresh = jwt.PyJWKClient(okta.jwks_uri, cache_keys=False)
        with pytest.raises(jwt.PyJWKClientError):
            fresh.get_signing_key_from_jwt(before)


# -- httpx-auth --------------------------------------------------------------------


def test_httpx_auth_okta_client_credentials(okta: MockIssuer) -> None:
    import uuid

    import httpx_auth

    client_id = f"svc-{uuid.uuid4().hex}"  # httpx-auth caches tokens process-wide
    okta.register_client(client_id, "s3cret", scopes=["orders:read"])
    auth = httpx_auth.OktaClientCredentials(
        "okta.localhost",
        client_id,
        "s3cret",
        scope="orders:read",
        client=okta.http_client(),
    )
    with okta.http_client(auth=auth) as api:
        api.get("/oauth2/default/v1/keys")
        api.get("/oauth2/default/v1/keys")
    token_requests = [r for r in okta.requests if r.endpoint == "token"]
    assert len(token_requests) == 1
    keys_request = okta.requests[-1]
    scheme, _, token = keys_request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.decode(token, options={"verify_signature": False})["cid"] == client_id


def test_tls_true_serves_https_with_a_throwaway_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import httpx

    with MockIssuer(tls=True) as okta:
        assert okta.issuer.startswith("https://127.0.0.1:")
        assert okta.ca_file is not None and okta.client_ssl_context is not None
        with httpx.Client(verify=okta.client_ssl_context) as client:
            assert client.get(okta.jwks_uri).status_code == 200
        _okta_verifier(okta.issuer, Path(okta.ca_file), monkeypatch).verify_sync(okta.mint_token())
        ca_file = okta.ca_file
    assert not os.path.exists(ca_file)
    assert MockIssuer().ca_file is None
