"""Strict compact-JWS parsing: structure, canonical base64url, strict JSON, header allowlist."""

from __future__ import annotations

import pytest

from okta_guard.errors import InvalidTokenError
from okta_guard.verify.jws import (
    b64url_decode,
    decode_payload,
    parse_json_object,
    parse_token,
    verify_signature,
)
from tests.support.verifier_helpers import b64u, b64u_json, rsa_key, token

ALGS = frozenset({"RS256"})


def parse(value: object, max_size: int = 8192):  # type: ignore[no-untyped-def]
    return parse_token(value, max_size=max_size, algorithms=ALGS)


def reason_of(value: object) -> str:
    with pytest.raises(InvalidTokenError) as info:
        parse(value)
    return info.value.reason


def test_valid_token_parses_and_verifies() -> None:
    parsed = parse(token())
    assert parsed.alg == "RS256"
    assert parsed.kid == "kid-a"
    assert parsed.typ is None
    assert verify_signature(parsed, rsa_key("a").public_key())
    assert not verify_signature(parsed, rsa_key("b").public_key())
    assert decode_payload(parsed)["iss"].startswith("https://")


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"a.b.c",
        123,
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "..",
        "a..c",
        ".b.c",
        "a.b.",
        "é.b.c",
        '{"payload":"x","signatures":[]}',
    ],
)
def test_structure_is_malformed(value: object) -> None:
    assert reason_of(value) == "malformed"


def test_oversized_token_is_rejected_before_parsing() -> None:
    big = "a" * 9000
    assert reason_of(big) == "token_too_large"
    assert reason_of("." * 9000) == "token_too_large"


def test_many_dots_are_malformed() -> None:
    assert reason_of("a." * 100 + "a") == "malformed"


def test_a_dot_anywhere_in_the_payload_is_malformed() -> None:
    # parse_token splits at the first and the last dot: any other dot stays in the payload
    # segment, and must make it malformed wherever it sits (four or five parts, a JWE).
    head, payload, sig = _parts(token())
    for at in range(len(payload) + 1):
        for extra in (".", "..", ".AAAA.", "." + sig + "."):
            bad = payload[:at] + extra + payload[at:]
            assert reason_of(f"{head}.{bad}.{sig}") == "malformed", (at, extra)


def _parts(tok: str) -> list[str]:
    return tok.split(".")


@pytest.mark.parametrize("mutate", ["pad", "space", "plus", "slash", "newline"])
def test_non_canonical_alphabet_is_rejected(mutate: str) -> None:
    head, payload, sig = _parts(token())
    if mutate == "pad":
        sig = sig + "=="
    elif mutate == "space":
        payload = payload[:10] + " " + payload[10:]
    elif mutate == "plus":
        sig = sig.replace("-", "+").replace("_", "/") + "+/"
    elif mutate == "slash":
        head = head + "/"
    else:
        payload = payload + "\n"
    assert reason_of(f"{head}.{payload}.{sig}") == "malformed"


def test_trailing_bits_must_be_zero() -> None:
    assert b64url_decode(b"QQ") == b"A"
    with pytest.raises(InvalidTokenError):
        b64url_decode(b"QR")  # same byte, non-zero unused bits
    assert b64url_decode(b"QUI") == b"AB"
    with pytest.raises(InvalidTokenError):
        b64url_decode(b"QUJ")


def test_length_mod_4_equal_1_is_rejected() -> None:
    with pytest.raises(InvalidTokenError):
        b64url_decode(b"QUJDR")
    head, payload, sig = _parts(token())
    while len(sig) % 4 != 1:
        sig += "A"
    assert reason_of(f"{head}.{payload}.{sig}") == "malformed"
    while len(payload) % 4 != 1:
        payload += "A"
    assert reason_of(f"{head}.{payload}.{_parts(token())[2]}") == "malformed"


def test_header_bad_trailing_bits_rejected_in_token() -> None:
    head = b64u_json({"alg": "RS256", "kid": "kid-a"})
    # Flip the unused low bits of the last character if the length leaves any.
    assert len(head) % 4 in (2, 3)
    last = head[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = alphabet[alphabet.index(last) + 1]
    _, payload, sig = _parts(token())
    assert reason_of(f"{head[:-1]}{bumped}.{payload}.{sig}") == "malformed"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e999}',
        b"[1,2]",
        b'"text"',
        b"null",
        b"\xff\xfe{}",
        b'{"a":1',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' + b"1" * 5000 + b"}",
    ],
)
def test_strict_json(raw: bytes) -> None:
    with pytest.raises(InvalidTokenError) as info:
        parse_json_object(raw)
    assert info.value.reason == "malformed"


def test_duplicate_keys_in_header_are_rejected() -> None:
    head = b64u(b'{"alg":"RS256","kid":"kid-a","kid":"other"}')
    _, payload, sig = _parts(token())
    assert reason_of(f"{head}.{payload}.{sig}") == "malformed"


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/keys"},
        {"jwk": {"kty": "RSA"}},
        {"x5u": "https://evil.example/cert"},
        {"x5c": ["MIIB"]},
        {"x5t": "abc"},
        {"crit": ["exp"]},
        {"crit": []},
        {"zip": "DEF"},
        {"enc": "A128GCM"},
        {"cty": "JWT"},
        {"b64": False},
    ],
)
def test_header_parameters_outside_the_allowlist(extra: dict[str, object]) -> None:
    assert reason_of(token(header=extra)) == "header_not_allowed"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "RS384", "PS256", "ES256", ""])
def test_alg_not_in_allowlist(alg: str) -> None:
    assert reason_of(token(header={"alg": alg})) == "alg_not_allowed"


def test_alg_must_be_a_string() -> None:
    assert reason_of(token(header={"alg": ["RS256"]})) == "alg_not_allowed"


@pytest.mark.parametrize("kid", [None, 5, "", "a" * 129, "kid with space", "kid\n", "ключ", ["a"]])
def test_bad_kid(kid: object) -> None:
    header = {} if kid is None else {"kid": kid}
    tok = token(kid=None, header=header)
    assert reason_of(tok) == "bad_kid"


def test_typ_must_be_a_string() -> None:
    assert reason_of(token(header={"typ": 1})) == "bad_typ"


def test_signature_of_wrong_length_is_refused_without_crypto() -> None:
    head, payload, _ = _parts(token())
    parsed = parse(f"{head}.{payload}.{b64u(b'x' * 255)}")
    assert not verify_signature(parsed, rsa_key("a").public_key())
