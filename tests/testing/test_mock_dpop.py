"""MockIssuer DPoP at the token endpoint: Okta's nonce dance and cnf.jkt-bound tokens."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.testing.dpop import jwk_thumbprint

NOW = 1_800_000_000
FORM = {"grant_type": "client_credentials", "scope": "orders:read"}


@pytest.fixture(scope="module")
def proof_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def okta(clock: FakeClock) -> MockIssuer:
    issuer = MockIssuer(clock=clock)
    issuer.register_client("dpop-app", "s3cret", scopes=["orders:read"], dpop=True)
    issuer.register_client("plain", "s3cret", scopes=["orders:read"])
    yield issuer
    issuer.close()


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)


def _proof(key: ec.EllipticCurvePrivateKey, htu: str, **claims: Any) -> str:
    body: dict[str, Any] = {"htm": "POST", "htu": htu, "iat": NOW, "jti": str(uuid.uuid4())}
    body.update(claims)
    headers = {"typ": "dpop+jwt", "jwk": _public_jwk(key)}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, "ES256", headers)


def _token(okta: MockIssuer, proof: str | None, client: str = "dpop-app") -> httpx.Response:
    headers = {"DPoP": proof} if proof else {}
    with okta.http_client() as http:
        return http.post(
            "/oauth2/default/v1/token", data=FORM, auth=(client, "s3cret"), headers=headers
        )


def test_nonce_dance_then_bound_token(
    okta: MockIssuer, proof_key: ec.EllipticCurvePrivateKey
) -> None:
    first = _token(okta, _proof(proof_key, okta.token_url))
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    second = _token(okta, _proof(proof_key, okta.token_url, nonce=nonce))
    assert second.status_code == 200
    body = second.json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": jwk_thumbprint(_public_jwk(proof_key))}
    with okta.http_client() as http:
        info = http.post(
            "/oauth2/default/v1/introspect",
            data={"token": body["access_token"]},
            auth=("plain", "s3cret"),
        ).json()
    assert info["active"] is True and info["token_type"] == "DPoP"


def test_missing_proof(okta: MockIssuer) -> None:
    response = _token(okta, None)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_dpop_proof")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"htu": "http://okta.localhost/oauth2/default/v1/keys"}, "htu"),
        ({"htm": "GET"}, "htm"),
        ({"iat": NOW - 3600}, "iat"),
        ({"jti": None}, "jti"),
    ],
)
def test_bad_proofs(
    okta: MockIssuer,
    proof_key: ec.EllipticCurvePrivateKey,
    change: dict[str, Any],
    fragment: str,
) -> None:
    nonce = _token(okta, _proof(proof_key, okta.token_url)).headers["dpop-nonce"]
    change = {"htu": okta.token_url, "nonce": nonce, **change}
    response = _token(okta, _proof(proof_key, **change))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_dpop_proof")
    assert fragment in response.json()["error_description"]


def test_proof_header_rules(okta: MockIssuer, proof_key: ec.EllipticCurvePrivateKey) -> None:
    claims = {"htm": "POST", "htu": okta.token_url, "iat": NOW, "jti": "j"}
    no_typ = jwt.encode(claims, proof_key, "ES256", {"jwk": _public_jwk(proof_key)})
    hmac = jwt.encode(claims, "k" * 32, "HS256", {"typ": "dpop+jwt", "jwk": {"kty": "oct"}})
    other = ec.generate_private_key(ec.SECP256R1())
    wrong_key = jwt.encode(
        claims, other, "ES256", {"typ": "dpop+jwt", "jwk": _public_jwk(proof_key)}
    )
    for proof in (no_typ, hmac, wrong_key, "garbage"):
        response = _token(okta, proof)
        assert response.json()["error"] == "invalid_dpop_proof"


def test_replayed_proof_and_nonce_lifetime(
    okta: MockIssuer, clock: FakeClock, proof_key: ec.EllipticCurvePrivateKey
) -> None:
    nonce = _token(okta, _proof(proof_key, okta.token_url)).headers["dpop-nonce"]
    proof = _proof(proof_key, okta.token_url, nonce=nonce)
    assert _token(okta, proof).status_code == 200
    replay = _token(okta, proof)
    assert "already been used" in replay.json()["error_description"]
    clock.advance(24 * 3600)
    fresh = _proof(proof_key, okta.token_url, nonce=nonce, iat=clock())
    assert _token(okta, fresh).status_code == 200  # old nonce still valid for 3 days
    clock.advance(2 * 24 * 3600)
    stale = _token(okta, _proof(proof_key, okta.token_url, nonce=nonce, iat=clock()))
    assert stale.json()["error"] == "use_dpop_nonce"
    assert stale.headers["dpop-nonce"] != nonce


def test_plain_client_gets_bearer(okta: MockIssuer) -> None:
    response = _token(okta, None, client="plain")
    assert response.json()["token_type"] == "Bearer"


def test_thumbprint_matches_rfc7638_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    with pytest.raises(ValueError):
        jwk_thumbprint({"kty": "oct", "k": "x"})
