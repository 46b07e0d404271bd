"""Property-based fuzzing: whatever the input, only OktaGuardError leaves the verifier.

Three sources of hostile input: mutations of a valid token (flipped, inserted,
deleted characters, cut or repeated segments), arbitrary text, and correctly
*signed* tokens with arbitrary JSON headers and payloads (so the claim checks
see every shape of value after the signature passes).  An ``internal_error``
verdict would mean an unexpected exception was caught: that fails too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okta_guard.errors import InvalidTokenError
from okta_guard.models import AccessToken
from tests.support.verifier_helpers import (
    JwksEndpoint,
    b64u,
    b64u_json,
    claims,
    rsa_key,
    sign_segments,
    token,
)
from tests.support.verifier_helpers import verifier as make_verifier

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
VALID = token()
VERIFIER = make_verifier(JwksEndpoint())


def outcome(value: Any) -> str:
    """Verify ``value``; return ``"ok"`` or the rejection reason (never an internal error)."""
    error: InvalidTokenError | None = None
    try:
        result = VERIFIER.verify(value)
    except InvalidTokenError as exc:
        error = exc
    if error is not None:
        assert error.reason != "internal_error"
        if isinstance(value, str) and len(value) >= 20:
            assert value not in str(error) and value not in repr(error)
        return error.reason
    assert isinstance(result, AccessToken)
    return "ok"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut", "dup", "swap"]))
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "flip" and text:
            text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
        elif kind == "insert":
            text = text[:pos] + draw(st.text(min_size=1, max_size=8)) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 16)) :]
        elif kind == "cut":
            text = text[:pos]
        elif kind == "dup":
            parts = text.split(".")
            text = ".".join(parts + parts[: draw(st.integers(1, 3))])
        else:
            parts = text.split(".")
            draw(st.randoms()).shuffle(parts)
            text = ".".join(parts)
    return text


@SETTINGS
@given(mutated())
def test_mutated_tokens_only_raise_library_errors(value: str) -> None:
    if outcome(value) == "ok":
        # A mutation that still verifies can only be the valid token itself.
        assert value == VALID


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.binary(max_size=100), st.none(), st.integers()))
def test_arbitrary_input_only_raises_library_errors(value: Any) -> None:
    assert outcome(value) != "ok"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
claim_names = st.sampled_from(
    ["iss", "aud", "exp", "nbf", "iat", "cid", "client_id", "scp", "scope", "sub", "jti", "cnf"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(claim_names, json_values, max_size=5),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)
def test_signed_tokens_with_arbitrary_claims(
    overrides: dict[str, Any], extra: dict[str, Any]
) -> None:
    payload = {**claims(), **extra, **overrides}
    signed = sign_segments(
        rsa_key("a"), b64u_json({"alg": "RS256", "kid": "kid-a"}), b64u_json(payload)
    )
    outcome(signed)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4), st.binary(max_size=64))
def test_arbitrary_headers_and_raw_payloads(header: dict[str, Any], raw: bytes) -> None:
    head = b64u_json({"alg": "RS256", "kid": "kid-a", **header})
    outcome(sign_segments(rsa_key("a"), head, b64u(raw)))


@settings(max_examples=60, deadline=None)
@given(mutated())
def test_async_path_only_raises_library_errors(value: str) -> None:
    async def run() -> str:
        try:
            await VERIFIER.verify_async(value)
        except InvalidTokenError as exc:
            return exc.reason
        return "ok"

    reason = asyncio.run(run())
    assert reason != "internal_error"
    assert reason != "ok" or value == VALID
