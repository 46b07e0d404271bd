"""Strict parsing of compact JWS access tokens, and the RSA signature check.

Only the compact serialization with exactly three non-empty parts is accepted.
Every part must be canonical base64url (no padding, no white space, no ``+``
or ``/``, zero trailing bits); header and payload must be UTF-8 JSON objects
without duplicate keys, NaN, Infinity or non-finite numbers.  The header may
hold only ``alg``, ``kid`` and ``typ``: ``jwk``, ``jku``, ``x5u``, ``x5c``,
``crit``, ``zip``, ``enc``, ``cty`` and everything else are refused, so no key
or URL is ever taken from a token.

The payload is decoded only by :func:`decode_payload`, which the verifier
calls after the signature has been checked.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .errors import InvalidTokenError

__all__ = [
    "ALLOWED_HEADER_PARAMETERS",
    "SUPPORTED_ALGORITHMS",
    "ParsedToken",
    "b64url_decode",
    "decode_payload",
    "parse_json_object",
    "parse_token",
    "reject",
    "verify_signature",
]

#: Algorithms a verifier may be configured with (all RSA PKCS#1 v1.5).
SUPPORTED_ALGORITHMS: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}

#: The only JOSE header parameters an access token may carry.
ALLOWED_HEADER_PARAMETERS = frozenset({"alg", "kid", "typ"})

_PKCS1 = padding.PKCS1v15()
_B64URL_AND_DOT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Last character of a base64url string whose final group has 2 or 3 characters:
# the unused low bits must be zero (canonical encoding).
_CANONICAL_LAST = {
    2: frozenset("AQgw"),
    3: frozenset("AEIMQUYcgkosw048"),
}
_KID = re.compile(r"[A-Za-z0-9._~:@+/=-]{1,128}")
_PAD = ("", "", "==", "=")

_DESCRIPTIONS = {
    "expired": "The access token expired.",
    "not_yet_valid": "The access token is not valid yet.",
}


def reject(reason: str) -> InvalidTokenError:
    """Build the :class:`InvalidTokenError` for ``reason`` with a short, safe description."""
    return InvalidTokenError(_DESCRIPTIONS.get(reason), reason=reason)


@dataclass(frozen=True)
class ParsedToken:
    """The pieces of a compact JWS whose structure and header passed the strict checks.

    ``payload_segment`` is still encoded: claims are decoded only after the
    signature over ``signing_input`` has been verified.
    """

    header: dict[str, Any]
    alg: str
    kid: str
    typ: str | None
    signing_input: bytes
    signature: bytes
    payload_segment: bytes


def b64url_decode(segment: bytes) -> bytes:
    """Decode one canonical, unpadded base64url segment (already checked for its alphabet).

    Raises :class:`InvalidTokenError` (``malformed``) for a length that no
    encoding produces or for non-zero trailing bits.
    """
    rem = len(segment) % 4
    if rem == 1:
        raise reject("malformed")
    if rem and chr(segment[-1]) not in _CANONICAL_LAST[rem]:
        raise reject("malformed")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PAD[rem].encode())
    except (binascii.Error, ValueError):
        raise reject("malformed") from None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError("non-finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_constant=_reject_constant,
    parse_float=_finite_float,
)


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse strict UTF-8 JSON that must be an object; anything else is ``malformed``."""
    try:
        value = _DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError, OverflowError):
        raise reject("malformed") from None
    if not isinstance(value, dict):
        raise reject("malformed")
    return value


def parse_token(token: object, *, max_size: int, algorithms: frozenset[str]) -> ParsedToken:
    """Check the structure and header of a compact JWS; return its pieces.

    Raises :class:`InvalidTokenError` with reason ``token_too_large``,
    ``malformed`` (structure, encoding, JSON, JWE or JSON serialization),
    ``header_not_allowed``, ``alg_not_allowed`` or ``bad_kid``.  Nothing from
    the payload is looked at.
    """
    if not isinstance(token, str):
        raise reject("malformed")
    if len(token) > max_size:
        raise reject("token_too_large")
    if token.count(".") != 2 or not token.isascii():
        raise reject("malformed")
    raw = token.encode("ascii")
    if raw.translate(None, _B64URL_AND_DOT):
        raise reject("malformed")
    first = raw.index(b".")
    second = raw.index(b".", first + 1)
    header_seg = raw[:first]
    payload_seg = raw[first + 1 : second]
    signature_seg = raw[second + 1 :]
    if not header_seg or not payload_seg or not signature_seg:
        raise reject("malformed")
    header = parse_json_object(b64url_decode(header_seg))
    if not ALLOWED_HEADER_PARAMETERS.issuperset(header):
        raise reject("header_not_allowed")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise reject("alg_not_allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise reject("bad_kid")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise reject("bad_typ")
    if len(payload_seg) % 4 == 1:
        raise reject("malformed")
    return ParsedToken(
        header=header,
        alg=alg,
        kid=kid,
        typ=typ,
        signing_input=raw[:second],
        signature=b64url_decode(signature_seg),
        payload_segment=payload_seg,
    )


def verify_signature(parsed: ParsedToken, key: RSAPublicKey) -> bool:
    """Tell whether ``parsed`` carries a valid RSA PKCS#1 v1.5 signature by ``key``.

    The hash comes from the (already allowlisted) ``alg``; the signature must be
    exactly as long as the modulus.
    """
    hash_algorithm = SUPPORTED_ALGORITHMS.get(parsed.alg)
    if hash_algorithm is None or len(parsed.signature) != (key.key_size + 7) // 8:
        return False
    try:
        key.verify(parsed.signature, parsed.signing_input, _PKCS1, hash_algorithm)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def decode_payload(parsed: ParsedToken) -> dict[str, Any]:
    """Decode the claims of a token whose signature has been verified."""
    return parse_json_object(b64url_decode(parsed.payload_segment))
