"""Turn a fetched JWKS document into usable RSA public keys (pure, no I/O).

A key is usable only if it is an RSA key (``kty`` ``RSA``) of at least 2048
bits, meant for signatures (``use`` ``sig`` or absent, ``key_ops`` absent or
holding ``verify``), for one of the allowed algorithms (``alg`` allowed or
absent), with a string ``kid``.  Anything else is ignored, and its kid is
remembered as *unusable* so that a token naming it gets a precise reason.  Two
entries with the same ``kid`` make that kid *ambiguous*: neither is used.

Parsed key objects are reused from the previous key set when ``n`` and ``e``
are unchanged, so that "same key" is an identity check (``is``) elsewhere.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from okta_guard._grammar import B64URL_ALPHABET
from okta_guard.errors import OktaGuardError
from okta_guard.verify.jws import b64url_decode, parse_json_document

__all__ = [
    "KeyLease",
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "InvalidKeySetError",
    "KeyEntry",
    "KeySetContent",
    "parse_key_set",
]

#: Smallest RSA modulus accepted, in bits.
MIN_RSA_BITS = 2048
#: Largest RSA modulus accepted, in bits (bounds the cost of a verification).
MAX_RSA_BITS = 8192
#: A JWKS with more entries than this is treated as garbage.
MAX_KEYS = 100


class InvalidKeySetError(ValueError):
    """The JWKS document is not a JSON object with a ``keys`` array."""


class KeyLease:
    """Until when (epoch seconds) a key may be used without asking the key cache.

    The key cache sets it when it installs a key set: the set's refresh time for each key
    in it, ``-inf`` for a key that left it (or changed).  ``now < lease.until`` is the
    whole freshness check of a key, for the key cache and the verdicts cached with it.
    """

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = float("-inf")

    def __repr__(self) -> str:
        return f"KeyLease(until={self.until!r})"


@dataclass(frozen=True)
class KeyEntry:
    """One usable signing key: its kid, its encoded modulus/exponent and the key object."""

    kid: str
    n: str
    e: str
    alg: str | None
    key: RSAPublicKey = field(repr=False, compare=False)
    #: The length of the key's signatures in bytes (its modulus' length), read once here
    #: rather than through ``key.key_size`` on every signature check.
    signature_size: int = field(init=False, repr=False, compare=False)
    #: Set by the key cache that holds the key (see :class:`KeyLease`).
    lease: KeyLease = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = (self.key.key_size + 7) // 8 if self.key is not None else 0
        object.__setattr__(self, "signature_size", size)
        object.__setattr__(self, "lease", KeyLease())


@dataclass(frozen=True)
class KeySetContent:
    """The usable keys of one JWKS document, by kid, plus the kids that cannot be used."""

    keys: Mapping[str, KeyEntry]
    ambiguous: frozenset[str] = frozenset()
    unusable: frozenset[str] = frozenset()


def _b64_int(value: object) -> int | None:
    if not isinstance(value, str) or not value or len(value) > 2048 or not value.isascii():
        return None
    encoded = value.encode("ascii")
    if encoded.translate(None, _B64URL):
        return None
    try:
        raw = b64url_decode(encoded)
    except (OktaGuardError, binascii.Error):
        return None
    return int.from_bytes(raw, "big") if raw else None


_B64URL = B64URL_ALPHABET


def _usable(jwk: Mapping[str, Any], algorithms: frozenset[str]) -> bool:
    if jwk.get("kty") != "RSA":
        return False
    if jwk.get("use", "sig") != "sig":
        return False
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return False
    alg = jwk.get("alg")
    return alg is None or (isinstance(alg, str) and alg in algorithms)


def _build_key(
    kid: str, jwk: Mapping[str, Any], previous: Mapping[str, KeyEntry]
) -> KeyEntry | None:
    n_text, e_text = jwk.get("n"), jwk.get("e")
    alg = jwk.get("alg")
    old = previous.get(kid)
    if old is not None and old.n == n_text and old.e == e_text and old.alg == alg:
        return old
    n, e = _b64_int(n_text), _b64_int(e_text)
    if n is None or e is None or not isinstance(n_text, str) or not isinstance(e_text, str):
        return None
    if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS or e < 3 or e % 2 == 0 or e >= n:
        return None
    try:
        key = RSAPublicNumbers(e, n).public_key()
    except (ValueError, TypeError):
        return None
    return KeyEntry(kid=kid, n=n_text, e=e_text, alg=alg if isinstance(alg, str) else None, key=key)


def parse_key_set(
    body: bytes,
    *,
    algorithms: frozenset[str],
    previous: Mapping[str, KeyEntry] | None = None,
) -> KeySetContent:
    """Parse a JWKS document (bytes of JSON) into a :class:`KeySetContent`.

    Raises :class:`InvalidKeySetError` when the document is not a JSON object
    with a ``keys`` array of at most :data:`MAX_KEYS` entries.
    """
    try:
        document = parse_json_document(body)
    except OktaGuardError:
        raise InvalidKeySetError("the JWKS is not a JSON object") from None
    entries = document.get("keys")
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        raise InvalidKeySetError("the JWKS has no 'keys' array of a sane size")
    previous = previous or {}
    seen: dict[str, int] = {}
    for jwk in entries:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            seen[jwk["kid"]] = seen.get(jwk["kid"], 0) + 1
    ambiguous = frozenset(kid for kid, count in seen.items() if count > 1)
    keys: dict[str, KeyEntry] = {}
    unusable: set[str] = set()
    for jwk in entries:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or kid in ambiguous:
            continue
        entry = _build_key(kid, jwk, previous) if _usable(jwk, algorithms) else None
        if entry is None:
            unusable.add(kid)
        else:
            keys[kid] = entry
    return KeySetContent(keys=keys, ambiguous=ambiguous, unusable=frozenset(unusable))
