"""Sealed shared-token entries: AES-256-GCM under an HKDF key bound to the slot."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from okta_guard._seal import Sealer
from okta_guard.call.policy import CachedToken, CacheKey
from okta_guard.call.shared_seal import TokenSealer, answer_sealer, credential_material, slot_id
from okta_guard.errors import ConfigurationError
from okta_guard.models import ServiceToken

NOW = 1_800_000_000.0
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl"


def entry() -> CachedToken:
    utc = dt.timezone.utc
    token = ServiceToken(
        TOKEN, "DPoP", dt.datetime.fromtimestamp(NOW + 3600, utc), frozenset({"a", "b"}),
        issued_at=dt.datetime.fromtimestamp(NOW, utc),
    )  # fmt: skip
    return CachedToken(token, NOW, NOW + 3540, NOW + 3600)


def test_round_trip_keeps_every_field() -> None:
    sealer = TokenSealer(b"secret:s3cret", "slot")
    opened = sealer.open(sealer.seal(entry()))
    assert opened == entry()


def test_sealed_bytes_hold_no_token_text_and_differ_every_time() -> None:
    sealer = TokenSealer(b"secret:s3cret", "slot")
    one, two = sealer.seal(entry()), sealer.seal(entry())
    assert one != two  # a fresh nonce each time
    for part in [TOKEN, *TOKEN.split(".")]:
        assert part.encode() not in one


def test_any_flipped_byte_fails_to_open() -> None:
    sealer = TokenSealer(b"secret:s3cret", "slot")
    sealed = sealer.seal(entry())
    for i in range(len(sealed)):
        broken = sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :]
        assert sealer.open(broken) is None
    assert sealer.open(sealed[:-1]) is None
    assert sealer.open(b"") is None
    assert sealer.open(None) is None


def test_other_slot_or_credentials_cannot_open() -> None:
    sealed = TokenSealer(b"secret:s3cret", "slot").seal(entry())
    assert TokenSealer(b"secret:s3cret", "other-slot").open(sealed) is None
    assert TokenSealer(b"secret:other", "slot").open(sealed) is None
    assert "s3cret" not in repr(TokenSealer(b"secret:s3cret", "slot"))


def test_credential_material_from_secret_or_private_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert credential_material("abc", None) == b"secret:abc"
    from_key = credential_material(None, key)
    assert from_key.startswith(b"private-key:") and from_key == credential_material(None, key)
    with pytest.raises(ConfigurationError, match="encryption_key"):
        credential_material(None, None)


def test_slot_id_is_canonical_and_secret_free() -> None:
    a = CacheKey.build(
        "https://x.okta.com/oauth2/default", "svc", ["b", "a"], "client_secret_basic"
    )
    b = CacheKey.build(
        "https://x.okta.com/oauth2/default", "svc", ["a", "b"], "client_secret_basic"
    )
    assert slot_id(a) == slot_id(b)
    assert len(slot_id(a)) == 40 and "svc" not in slot_id(a)
    assert slot_id(a, "jkt") != slot_id(a)


def test_answer_sealer_binds_values_to_their_key_and_purpose() -> None:
    issuer = "https://x.okta.com/oauth2/default"
    sealer = answer_sealer(b"secret:s3cret", issuer)
    sealed = sealer.seal(b'{"active":true}', b"key-a")
    assert sealer.open(sealed, b"key-a") == b'{"active":true}'
    assert sealer.open(sealed, b"key-b") is None  # moved to another key
    assert answer_sealer(b"secret:other", issuer).open(sealed, b"key-a") is None
    assert answer_sealer(b"secret:s3cret", issuer + "2").open(sealed, b"key-a") is None
    assert sealer.open(b'{"active":true}', b"key-a") is None  # plain text never opens
    assert sealer.open("og1" + "x" * 40, b"key-a") is None  # nor does text
    # The same credentials seal tokens under another key: neither opens the other's values.
    token_value = TokenSealer(b"secret:s3cret", "slot").seal(entry())
    assert sealer.open(token_value) is None and sealer.open(token_value, b"slot") is None
    assert repr(sealer) == "Sealer(***)" and isinstance(sealer, Sealer)
