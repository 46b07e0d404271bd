"""MockIssuer client authentication: private_key_jwt and client_secret_jwt like Okta."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from okta_guard.testing import FakeClock, MockIssuer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def okta(clock: FakeClock, ec_key: ec.EllipticCurvePrivateKey) -> MockIssuer:
    issuer = MockIssuer(clock=clock)
    issuer.register_client("jwt-app", scopes=["orders:read"], public_key=ec_key.public_key())
    issuer.register_client("hs-app", "h" * 40, scopes=["orders:read"])
    yield issuer
    issuer.close()


def _assertion(
    key: Any, okta: MockIssuer, alg: str = "ES256", client: str = "jwt-app", **over: Any
) -> str:
    claims: dict[str, Any] = {
        "iss": client,
        "sub": client,
        "aud": okta.token_url,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg)


def _token(okta: MockIssuer, assertion: str, **extra: str) -> tuple[int, dict[str, Any]]:
    data = {
        "grant_type": "client_credentials",
        "scope": "orders:read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    with okta.http_client() as client:
        response = client.post("/oauth2/default/v1/token", data=data)
    return response.status_code, response.json()


def test_private_key_jwt_succeeds(okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey) -> None:
    status, body = _token(okta, _assertion(ec_key, okta), client_id="jwt-app")
    assert status == 200
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["cid"] == "jwt-app"


def test_reused_jti_is_rejected(okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey) -> None:
    assertion = _assertion(ec_key, okta)
    assert _token(okta, assertion)[0] == 200
    status, body = _token(okta, assertion)
    assert (status, body["error"]) == (401, "invalid_client")
    assert "already been used" in body["error_description"]


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"aud": "http://okta.localhost/oauth2/default"}, "audience"),
        ({"aud": "http://okta.localhost/oauth2/default/v1/introspect"}, "audience"),
        ({"iss": "someone-else"}, "issuer and subject"),
        ({"exp": NOW - 1}, "expired"),
        ({"exp": NOW + 3601}, "too far"),
        ({"exp": None}, "exp"),
        ({"jti": None}, "jti"),
    ],
)
def test_bad_assertion_claims(
    okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey, over: dict[str, Any], fragment: str
) -> None:
    status, body = _token(okta, _assertion(ec_key, okta, **over))
    assert (status, body["error"]) == (401, "invalid_client")
    assert fragment in body["error_description"]


def test_exp_exactly_one_hour_ahead_is_allowed(
    okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assert _token(okta, _assertion(ec_key, okta, exp=NOW + 3600))[0] == 200


def test_assertion_signed_by_another_key(okta: MockIssuer) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    status, body = _token(okta, _assertion(other, okta))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "signature" in body["error_description"]


def test_assertion_expiry_follows_mock_clock(
    okta: MockIssuer, clock: FakeClock, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assertion = _assertion(ec_key, okta)
    clock.advance(301)
    status, body = _token(okta, assertion)
    assert status == 401 and "expired" in body["error_description"]


def test_wrong_assertion_type_and_mismatched_client_id(
    okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    status, body = _token(
        okta, _assertion(ec_key, okta), client_assertion_type="urn:something:else"
    )
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = _token(okta, _assertion(ec_key, okta), client_id="hs-app")
    assert (status, body["error"]) == (401, "invalid_client")


def test_garbage_assertion(okta: MockIssuer) -> None:
    status, body = _token(okta, "not.a.jwt")
    assert (status, body["error"]) == (401, "invalid_client")


def test_assertion_and_secret_together_are_rejected(
    okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    status, body = _token(okta, _assertion(ec_key, okta), client_secret="x")
    assert (status, body["error"]) == (400, "invalid_request")


def test_secret_auth_refused_for_key_only_client(okta: MockIssuer) -> None:
    with okta.http_client() as client:
        response = client.post(
            "/oauth2/default/v1/token",
            data={"grant_type": "client_credentials", "scope": "orders:read"},
            auth=("jwt-app", "anything"),
        )
    assert response.status_code == 401


def test_rsa_private_key_jwt_with_pem_and_jwk_registration(clock: FakeClock) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk["kid"] = "k1"
    with MockIssuer(clock=clock) as okta:
        okta.register_client("pem-app", scopes=["orders:read"], public_key=pem.decode())
        okta.register_client("jwk-app", scopes=["orders:read"], public_key={"keys": [jwk]})
        for client_id in ("pem-app", "jwk-app"):
            assertion = _assertion(key, okta, alg="RS256", client=client_id)
            assert _token(okta, assertion)[0] == 200
        # a kid the registration does not hold is not accepted
        bad = jwt.encode(
            {
                "iss": "jwk-app",
                "sub": "jwk-app",
                "aud": okta.token_url,
                "exp": NOW + 60,
                "jti": "x",
            },
            key,
            algorithm="RS256",
            headers={"kid": "other"},
        )
        assert _token(okta, bad)[0] == 401


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_client_secret_jwt(okta: MockIssuer) -> None:
    secret = "h" * 40
    assert _token(okta, _assertion(secret, okta, alg="HS256", client="hs-app"))[0] == 200
    assert _token(okta, _assertion("x" * 40, okta, alg="HS512", client="hs-app"))[0] == 401


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_client_secret_jwt_needs_long_secret(clock: FakeClock) -> None:
    okta = MockIssuer(clock=clock)
    try:
        okta.register_client("short", "tooshort", scopes=["orders:read"])
        status, body = _token(okta, _assertion("tooshort", okta, alg="HS256", client="short"))
        assert status == 401 and body["error"] == "invalid_client"
        assert "too short" in body["error_description"]
        assert "Okta requires >= 32 characters" in body["error_description"]
        assert "algorithm" not in body["error_description"]
        with pytest.raises(ValueError, match="at least 32 characters"):
            okta.register_client(
                "explicit", "short", scopes=["a"], auth_methods=["client_secret_jwt"]
            )
    finally:
        okta.close()


def test_introspect_accepts_private_key_jwt_for_its_own_url(
    okta: MockIssuer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = okta.mint_token(scopes=["orders:read"])
    assertion = _assertion(ec_key, okta, aud=okta.introspection_url)
    with okta.http_client() as client:
        response = client.post(
            "/oauth2/default/v1/introspect",
            data={
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
    assert response.json()["active"] is True
