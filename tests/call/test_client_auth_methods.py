"""TokenClient against the mock issuer: every client authentication method."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_guard.call.auth_methods import ASSERTION_TYPE
from okta_guard.errors import ConfigurationError, TokenRequestError
from okta_guard.testing import FakeClock
from tests.support.client_fakes import SCOPE, SECRET, make_client, make_okta

LONG_SECRET = "x" * 40


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def test_client_secret_basic_is_the_default() -> None:
    okta = make_okta()
    client = make_client(okta)
    token = client.get_token()
    assert _claims(token.access_token)["cid"] == "svc"
    assert token.token_type == "Bearer"
    assert token.scopes == {SCOPE}
    record = okta.requests[-1]
    assert record.endpoint == "token"
    assert record.auth_scheme == "Basic"
    assert record.form["grant_type"] == "client_credentials"
    assert record.form["scope"] == SCOPE
    assert "client_secret" not in record.form


def test_client_secret_basic_form_urlencodes_id_and_secret() -> None:
    okta = make_okta()
    odd_secret = "p@ss word+/:%é"
    okta.register_client("svc:1 x", odd_secret, scopes=[SCOPE])
    client = make_client(okta, client_id="svc:1 x", secret=odd_secret)
    assert _claims(client.get_token().access_token)["cid"] == "svc:1 x"
    header = okta.requests[-1].headers["authorization"]
    decoded = base64.b64decode(header.split(" ", 1)[1]).decode()
    assert decoded == "svc%3A1+x:p%40ss+word%2B%2F%3A%25%C3%A9"


def test_client_secret_post() -> None:
    okta = make_okta()
    client = make_client(okta, auth_method="client_secret_post")
    client.get_token()
    record = okta.requests[-1]
    assert record.auth_scheme is None
    assert record.form["client_id"] == "svc"
    assert record.form["client_secret"] == SECRET


def test_client_secret_jwt_hs256() -> None:
    okta = make_okta()
    okta.register_client("jwt-app", LONG_SECRET, scopes=[SCOPE])
    client = make_client(
        okta, client_id="jwt-app", secret=LONG_SECRET, auth_method="client_secret_jwt"
    )
    assert _claims(client.get_token().access_token)["cid"] == "jwt-app"
    form = okta.requests[-1].form
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert jwt.get_unverified_header(form["client_assertion"])["alg"] == "HS256"
    assert "client_secret" not in form


def test_client_secret_jwt_needs_a_long_secret() -> None:
    okta = make_okta()
    with pytest.raises(ConfigurationError, match="at least 32"):
        make_client(okta, secret="short", auth_method="client_secret_jwt")


@pytest.mark.parametrize("form", ["pem", "jwk-dict", "jwk-str", "object"])
def test_private_key_jwt_rsa(rsa_key: rsa.RSAPrivateKey, form: str) -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    okta.register_client("pk-app", scopes=[SCOPE], public_key=rsa_key.public_key())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key))
    jwk["kid"] = "jwk-kid"
    key = {"pem": _pem(rsa_key), "jwk-dict": jwk, "jwk-str": json.dumps(jwk), "object": rsa_key}
    client = make_client(okta, clock, client_id="pk-app", secret=None, private_key=key[form])
    assert client.auth_method == "private_key_jwt"
    first = client.get_token()
    assert _claims(first.access_token)["cid"] == "pk-app"
    assertion = okta.requests[-1].form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    claims = _claims(assertion)
    assert header["alg"] == "RS256"
    assert header.get("kid") == ("jwk-kid" if form.startswith("jwk") else None)
    assert claims["iss"] == claims["sub"] == "pk-app"
    assert claims["aud"] == okta.token_url
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iat"] == int(clock())
    # A second request carries a fresh jti (the mock rejects a reused one).
    second = client.get_token(force_refresh=True)
    assert second.access_token != first.access_token
    assert _claims(okta.requests[-1].form["client_assertion"])["jti"] != claims["jti"]


def test_private_key_jwt_ec_with_key_id(ec_key: ec.EllipticCurvePrivateKey) -> None:
    okta = make_okta()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk["kid"] = "ec-1"
    okta.register_client("ec-app", scopes=[SCOPE], public_key=jwk)
    client = make_client(
        okta,
        client_id="ec-app",
        secret=None,
        private_key=_pem(ec_key),
        key_id="ec-1",
        auth_method="private_key_jwt",
    )
    assert _claims(client.get_token().access_token)["cid"] == "ec-app"
    header = jwt.get_unverified_header(okta.requests[-1].form["client_assertion"])
    assert header == {"alg": "ES256", "kid": "ec-1", "typ": "JWT"}


async def test_private_key_jwt_async(rsa_key: rsa.RSAPrivateKey) -> None:
    okta = make_okta()
    okta.register_client("pk-app", scopes=[SCOPE], public_key=rsa_key.public_key())
    client = make_client(okta, client_id="pk-app", secret=None, private_key=rsa_key)
    token = await client.get_token_async()
    assert _claims(token.access_token)["cid"] == "pk-app"


def test_private_key_jwt_with_an_unregistered_key_is_invalid_client(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    okta = make_okta()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    okta.register_client("pk-app", scopes=[SCOPE], public_key=other.public_key())
    client = make_client(okta, client_id="pk-app", secret=None, private_key=rsa_key)
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.error == "invalid_client"
    assert "public key" in info.value.description


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth_method": "private_key_jwt"}, "needs private_key"),
        ({"private_key": "not a key", "secret": None}, "could not be read"),
        ({"private_key": '{"kty": "RSA", "n": "x", "e": "AQAB"}', "secret": None}, "public key"),
        ({"private_key": "{not json", "secret": None}, "not valid JSON"),
        ({"private_key": 42, "secret": None}, "PEM text, a JWK"),
        ({"secret": None}, "needs the client secret"),
        ({"auth_method": "magic"}, "Unknown auth_method"),
    ],
)
def test_auth_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    okta = make_okta()
    with pytest.raises(ConfigurationError, match=message):
        make_client(okta, **kwargs)  # type: ignore[arg-type]


def test_private_key_with_a_secret_method_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    okta = make_okta()
    with pytest.raises(ConfigurationError, match="private_key_jwt"):
        make_client(okta, private_key=rsa_key, auth_method="client_secret_post")


def test_short_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigurationError, match="2048"):
        make_client(make_okta(), secret=None, private_key=weak)


def test_token_request_body_is_form_encoded() -> None:
    okta = make_okta()
    client = make_client(okta, scopes="orders:read orders:write", extra_params={"resource": "r1"})
    token = client.get_token()
    assert token.scopes == {"orders:read", "orders:write"}
    body = okta.requests[-1].form
    assert parse_qs(f"scope={body['scope']}")["scope"] == ["orders:read orders:write"]
    assert body["resource"] == "r1"
