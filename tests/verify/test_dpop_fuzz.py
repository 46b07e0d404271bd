"""Fuzzing the DPoP proof check: whatever the proof, only an OktaGuardError comes out.

Mutated valid proofs, arbitrary text, and correctly *signed* proofs with arbitrary JSON
headers and claims (so every check after the signature sees every shape of value).
An ``internal_error`` verdict would mean an unexpected exception: that fails too.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okta_guard.call.dpop import DPoPKey
from okta_guard.errors import OktaGuardError
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.verifier import TokenVerifier

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
URL = "https://api.example.com/orders"
CLOCK = FakeClock()
OKTA = MockIssuer(clock=CLOCK)
VERIFIER = TokenVerifier(OKTA.issuer, OKTA.audience, clock=CLOCK, http_client=OKTA.http_client())
KEY = DPoPKey()
RAW_KEY = ec.generate_private_key(ec.SECP256R1())
TOKEN = OKTA.mint_token(scopes=["orders:read"], claims={"cnf": {"jkt": KEY.thumbprint}})
VALID = KEY.proof("GET", URL, access_token=TOKEN, now=CLOCK())


def outcome(proof: Any) -> str:
    """``"ok"`` or the refusal's reason; anything but an OktaGuardError propagates."""
    try:
        VERIFIER.verify_dpop(TOKEN, proof, method="GET", url=URL)
    except OktaGuardError as exc:
        reason = exc.reason
    else:
        return "ok"
    assert reason != "internal_error"
    return reason


def b64(data: bytes) -> str:
    return jwt.utils.base64url_encode(data).decode()


def signed(header: Any, payload: Any) -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(payload).encode())
    der = RAW_KEY.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{head}.{body}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(
    st.integers(0, len(VALID) - 1),
    st.sampled_from("A_-.=+/ é\x00"),
    st.sampled_from(["flip", "insert", "delete"]),
)
def test_mutated_proofs(position: int, char: str, how: str) -> None:
    if how == "flip":
        proof = VALID[:position] + char + VALID[position + 1 :]
    elif how == "insert":
        proof = VALID[:position] + char + VALID[position:]
    else:
        proof = VALID[:position] + VALID[position + 1 :]
    assert outcome(proof) in {"ok", "dpop_replay"} or outcome(proof).startswith(
        ("dpop_", "malformed")
    )


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.binary(max_size=100), st.none(), st.integers()))
def test_arbitrary_input(proof: Any) -> None:
    assert outcome(proof) != "ok"


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["typ", "alg", "jwk", "kid", "crit"]), JSON, max_size=4), JSON
)
def test_signed_proofs_with_any_header_and_claims(header: dict[str, Any], payload: Any) -> None:
    assert outcome(signed(header, payload)) != "ok"


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), JSON, max_size=6)
)
def test_signed_proofs_with_a_good_header_and_any_claims(payload: dict[str, Any]) -> None:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(RAW_KEY.public_key()))
    header = {
        "typ": "dpop+jwt",
        "alg": "ES256",
        "jwk": {k: jwk[k] for k in ("kty", "crv", "x", "y")},
    }
    # Signed by a key the token is not bound to: never accepted, never a crash.
    assert outcome(signed(header, payload)) != "ok"
