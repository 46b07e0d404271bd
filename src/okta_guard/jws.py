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
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .errors import InvalidTokenError

__all__ = [
    "ALLOWED_HEADER_PARAMETERS",
    "CheckedHeader",
    "SUPPORTED_ALGORITHMS",
    "ParsedToken",
    "b64url_decode",
    "decode_payload",
    "parse_json_document",
    "parse_json_object",
    "parse_token",
    "reject",
    "verify_signature",
]

#: Algorithms a verifier may be configured with (all RSASSA-PKCS1-v1_5), each with its
#: hash and the DER ``DigestInfo`` prefix that RFC 8017 §9.2 puts before the digest.
SUPPORTED_ALGORITHMS: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "RS256": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
    "RS384": (hashlib.sha384, bytes.fromhex("3041300d060960864801650304020205000430")),
    "RS512": (hashlib.sha512, bytes.fromhex("3051300d060960864801650304020305000440")),
}

#: The only JOSE header parameters an access token may carry.
ALLOWED_HEADER_PARAMETERS = frozenset({"alg", "kid", "typ"})

_PKCS1 = padding.PKCS1v15()
_B64URL_AND_DOT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
_NOT_B64URL_OR_DOT = bytes(set(range(256)) - set(_B64URL_AND_DOT))
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Last character of a base64url string whose final group has 2 or 3 characters:
# the unused low bits must be zero (canonical encoding).
_CANONICAL_LAST = {
    2: frozenset(b"AQgw"),
    3: frozenset(b"AEIMQUYcgkosw048"),
}
_KID = re.compile(r"[A-Za-z0-9._~:@+/=-]{1,128}")
_PAD = (b"", b"", b"==", b"=")
_HEADER_CACHE_SIZE = 64
_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__

_DESCRIPTIONS = {
    "expired": "The access token expired.",
    "not_yet_valid": "The access token is not valid yet.",
}


def reject(reason: str) -> InvalidTokenError:
    """Build the :class:`InvalidTokenError` for ``reason`` with a short, safe description."""
    return InvalidTokenError(_DESCRIPTIONS.get(reason), reason=reason)


class ParsedToken(NamedTuple):
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


#: A checked header: ``(header, alg, kid, typ)``.
CheckedHeader = tuple[dict[str, Any], str, str, "str | None"]


def b64url_decode(segment: bytes) -> bytes:
    """Decode one canonical, unpadded base64url segment (already checked for its alphabet).

    Raises :class:`InvalidTokenError` (``malformed``) for a length that no
    encoding produces or for non-zero trailing bits.
    """
    rem = len(segment) % 4
    if rem == 1 or (rem and segment[-1] not in _CANONICAL_LAST[rem]):
        raise reject("malformed")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PAD[rem])
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
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse strict UTF-8 JSON that must be an object; anything else is ``malformed``.

    No white space may surround the value (tokens never carry any).
    """
    try:
        text = data.decode("utf-8")
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, OverflowError, StopIteration):
        raise reject("malformed") from None
    if end != len(text) or type(value) is not dict:
        raise reject("malformed")
    return value


def parse_json_document(data: bytes) -> dict[str, Any]:
    """Like :func:`parse_json_object`, but white space may surround the object.

    For documents fetched from the issuer (JWKS, metadata), which may end with a newline.
    """
    return parse_json_object(data.strip(b" \t\r\n"))


def _check_header(segment: bytes, algorithms: frozenset[str]) -> CheckedHeader:
    header = parse_json_object(b64url_decode(segment))
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
    return header, alg, kid, typ


def parse_token(
    token: object,
    *,
    max_size: int,
    algorithms: frozenset[str],
    header_cache: dict[bytes, CheckedHeader] | None = None,
) -> ParsedToken:
    """Check the structure and header of a compact JWS; return its pieces.

    Raises :class:`InvalidTokenError` with reason ``token_too_large``,
    ``malformed`` (structure, encoding, JSON, JWE or JSON serialization),
    ``header_not_allowed``, ``alg_not_allowed``, ``bad_kid`` or ``bad_typ``.
    Nothing from the payload is looked at.  ``header_cache`` (owned by one
    verifier, whose ``algorithms`` it assumes) remembers headers that passed
    the checks: an issuer's tokens share a handful of identical headers.
    """
    if type(token) is not str:
        raise reject("malformed")
    if len(token) > max_size:
        raise reject("token_too_large")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise reject("malformed") from None
    # One pass maps base64url to standard base64 and drops every other byte but ".":
    # a length change means a character outside the alphabet.
    standard = raw.translate(_TO_STANDARD, _NOT_B64URL_OR_DOT)
    if len(standard) != len(raw):
        raise reject("malformed")
    parts = raw.split(b".")
    if len(parts) != 3:
        raise reject("malformed")
    header_seg, payload_seg, signature_seg = parts
    header_len, payload_len = len(header_seg), len(payload_seg)
    if not header_len or not payload_len or not signature_seg or payload_len % 4 == 1:
        raise reject("malformed")
    checked = header_cache.get(header_seg) if header_cache is not None else None
    if checked is None:
        checked = _check_header(header_seg, algorithms)
        if header_cache is not None:
            if len(header_cache) >= _HEADER_CACHE_SIZE:
                header_cache.clear()
            header_cache[header_seg] = checked
    header, alg, kid, typ = checked
    rem = len(signature_seg) % 4
    if rem == 1 or (rem and signature_seg[-1] not in _CANONICAL_LAST[rem]):
        raise reject("malformed")
    try:
        signature = binascii.a2b_base64(standard[header_len + payload_len + 2 :] + _PAD[rem])
    except (binascii.Error, ValueError):
        raise reject("malformed") from None
    return _new_tuple(
        ParsedToken,
        (header, alg, kid, typ, raw[: header_len + payload_len + 1], signature, payload_seg),
    )


def verify_signature(parsed: ParsedToken, key: RSAPublicKey) -> bool:
    """Tell whether ``parsed`` carries a valid RSASSA-PKCS1-v1_5 signature by ``key``.

    The check follows RFC 8017 §8.2.2 by *encoding and comparing*: OpenSSL
    applies the public key and checks the PKCS #1 type 1 padding, and the whole
    recovered ``DigestInfo`` must equal the one built here from the (already
    allowlisted) ``alg`` and the signing input - no ASN.1 is parsed, so
    malleable encodings cannot slip through.  It is as strict as
    ``RSAPublicKey.verify`` and measurably cheaper per call.  The signature
    must be exactly as long as the modulus.
    """
    spec = SUPPORTED_ALGORITHMS.get(parsed.alg)
    if spec is None or len(parsed.signature) != (key.key_size + 7) // 8:
        return False
    digest, prefix = spec
    try:
        recovered = key.recover_data_from_signature(parsed.signature, _PKCS1, None)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return hmac.compare_digest(recovered, prefix + digest(parsed.signing_input).digest())


def decode_payload(parsed: ParsedToken) -> dict[str, Any]:
    """Decode the claims of a token whose signature has been verified.

    Same rules as :func:`b64url_decode` + :func:`parse_json_object`, inlined
    because it runs on the first sight of every token.
    """
    segment = parsed.payload_segment
    rem = len(segment) % 4
    if rem and segment[-1] not in _CANONICAL_LAST[rem]:
        raise reject("malformed")
    try:
        text = binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PAD[rem]).decode("utf-8")
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, OverflowError, StopIteration):
        raise reject("malformed") from None
    if end != len(text) or type(value) is not dict:
        raise reject("malformed")
    return value
