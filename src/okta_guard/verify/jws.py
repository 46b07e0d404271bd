"""Strict parsing of compact JWS access tokens, and the RSA signature check.

Only the compact serialization with exactly three non-empty parts is accepted.
Every part must be canonical base64url (no padding, no white space, no ``+``
or ``/``, zero trailing bits); header and payload must be UTF-8 JSON objects
without duplicate keys, NaN, Infinity or non-finite numbers.  The header may
hold only ``alg``, ``kid`` and ``typ``: ``jwk``, ``jku``, ``x5u``, ``x5c``,
``crit``, ``zip``, ``enc``, ``cty`` and everything else are refused, so no key
or URL is ever taken from a token.

:func:`parse_token` only base64-decodes the payload; its JSON is parsed by
:func:`decode_payload`, and the verifier trusts nothing from it - nor reports
its errors - before the signature has been checked.
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

from okta_guard._grammar import B64URL_ALPHABET
from okta_guard.errors import InvalidTokenError

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
_B64URL = B64URL_ALPHABET
# base64url -> standard base64, every other byte -> "!", which a2b_base64 skips: a foreign
# byte (also "=", "+", "/", white space) then shows up as a result shorter than
# len(segment) * 3 // 4 (for lengths not 1 mod 4, one skipped byte always shortens it).
_TO_STANDARD_OR_SKIP = bytes(
    b"+"[0] if c == b"-"[0] else b"/"[0] if c == b"_"[0] else c if c in _B64URL else b"!"[0]
    for c in range(256)
)
# Last character of a base64url string whose final group has 2 or 3 characters:
# the unused low bits must be zero (canonical encoding).
_CANONICAL_LAST = {
    2: frozenset(b"AQgw"),
    3: frozenset(b"AEIMQUYcgkosw048"),
}
_KID = re.compile(r"[A-Za-z0-9._~:@+/=-]{1,128}")
_PAD = (b"", b"", b"==", b"=")
_a2b_base64 = binascii.a2b_base64
_HEADER_CACHE_SIZE = 64
_ABSENT: Any = object()

_DESCRIPTIONS = {
    "dpop_bound": "The access token is DPoP-bound; send it as 'Authorization: DPoP' with a proof.",
    "expired": "The access token expired.",
    "not_yet_valid": "The access token is not valid yet.",
}


def reject(reason: str) -> InvalidTokenError:
    """Build the :class:`InvalidTokenError` for ``reason`` with a short, safe description."""
    return InvalidTokenError(_DESCRIPTIONS.get(reason), reason=reason)


class ParsedToken(NamedTuple):
    """The pieces of a compact JWS whose structure and header passed the strict checks.

    ``payload_segment`` is the encoded payload and ``payload`` its bytes: neither is
    parsed as JSON until the signature over ``signing_input`` has been verified.
    """

    header: dict[str, Any]
    alg: str
    kid: str
    typ: str | None
    signing_input: bytes
    signature: bytes
    payload_segment: bytes
    #: The base64url-decoded payload (not parsed), or ``None`` when its last character
    #: carries non-zero unused bits (reported as ``malformed`` after the signature check).
    payload: bytes | None = None


_new_parsed = tuple.__new__

#: A checked header: ``(header, alg, kid, typ)``.
CheckedHeader = tuple[dict[str, Any], str, str, "str | None"]


def b64url_decode(segment: bytes) -> bytes:
    """Decode one canonical, unpadded base64url segment.

    Raises :class:`InvalidTokenError` (``malformed``) for a byte outside the
    base64url alphabet (padding and white space included), a length that no
    encoding produces, or non-zero trailing bits.
    """
    size = len(segment)
    rem = size & 3
    if rem == 1 or (rem and segment[-1] not in _CANONICAL_LAST[rem]):
        raise reject("malformed")
    try:
        decoded = binascii.a2b_base64(segment.translate(_TO_STANDARD_OR_SKIP) + _PAD[rem])
    except (binascii.Error, ValueError):
        raise reject("malformed") from None
    if len(decoded) != (size * 3) >> 2:
        raise reject("malformed")  # a foreign byte was skipped
    return decoded


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
    # Absent is fine; present it must be a string: ``"typ": null`` is refused like
    # ``"typ": 1`` (the same rule as for ``nbf``/``iat`` present as null).
    typ = header.get("typ", _ABSENT)
    if typ is _ABSENT:
        typ = None
    elif type(typ) is not str:
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
    The payload is base64-decoded, never interpreted.  ``header_cache`` (owned by one
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
    # Split at the last dot and then at the first: the signing input comes out whole (no
    # list, no slice; ~0.25 us less than split + slice).  A token without two dots leaves
    # an empty part; a third dot (or more: a JWE has five parts) stays in the payload
    # segment, where it is a foreign byte like any other - skipped by a2b_base64 below, so
    # the payload decodes short and is malformed.
    signing_input, _, signature_seg = raw.rpartition(b".")
    header_seg, _, payload_seg = signing_input.partition(b".")
    header_len, payload_len, signature_len = len(header_seg), len(payload_seg), len(signature_seg)
    if not header_len or not payload_len or not signature_len or payload_len & 3 == 1:
        raise reject("malformed")
    # The alphabet of all three parts first (as one check over the token would): the
    # payload and the signature are decoded here, and a skipped foreign byte shortens them.
    try:
        payload = _a2b_base64(payload_seg.translate(_TO_STANDARD_OR_SKIP) + _PAD[payload_len & 3])
    except (binascii.Error, ValueError):  # skipped foreign bytes left a bad length
        raise reject("malformed") from None
    if len(payload) != (payload_len * 3) >> 2:
        raise reject("malformed")
    rem = signature_len & 3
    if rem != 1:
        try:
            signature = _a2b_base64(signature_seg.translate(_TO_STANDARD_OR_SKIP) + _PAD[rem])
        except (binascii.Error, ValueError):  # skipped foreign bytes left a bad length
            raise reject("malformed") from None
        if len(signature) != (signature_len * 3) >> 2:
            raise reject("malformed")
    elif signature_seg.translate(None, _B64URL):
        raise reject("malformed")
    checked = header_cache.get(header_seg) if header_cache is not None else None
    if checked is None:
        if header_seg.translate(None, _B64URL):
            raise reject("malformed")
        checked = _check_header(header_seg, algorithms)
        if header_cache is not None:
            if len(header_cache) >= _HEADER_CACHE_SIZE:
                header_cache.clear()
            header_cache[header_seg] = checked
    header, alg, kid, typ = checked
    # Structure and header first, then the signature's own canonical form.
    if rem == 1 or (rem and signature_seg[-1] not in _CANONICAL_LAST[rem]):
        raise reject("malformed")
    # A payload whose last character has non-zero unused bits is refused after the
    # signature check (a forgery gets the same answer whatever its payload).
    payload_rem = payload_len & 3
    if payload_rem and payload_seg[-1] not in _CANONICAL_LAST[payload_rem]:
        decoded: bytes | None = None
    else:
        decoded = payload
    # tuple.__new__ skips the NamedTuple's Python-level __new__: ~0.2 us per token not
    # cached (python -m bench verify).
    return _new_parsed(
        ParsedToken,
        (
            header,
            alg,
            kid,
            typ,
            signing_input,
            signature,
            payload_seg,
            decoded,
        ),
    )


def verify_signature(parsed: ParsedToken, key: RSAPublicKey, size: int | None = None) -> bool:
    """Tell whether ``parsed`` carries a valid RSASSA-PKCS1-v1_5 signature by ``key``.

    The check follows RFC 8017 §8.2.2 by *encoding and comparing*: OpenSSL
    applies the public key and checks the PKCS #1 type 1 padding, and the whole
    recovered ``DigestInfo`` must equal the one built here from the (already
    allowlisted) ``alg`` and the signing input - no ASN.1 is parsed, so
    malleable encodings cannot slip through.  It is as strict as
    ``RSAPublicKey.verify`` and measurably cheaper per call.  The signature
    must be exactly as long as the modulus (``size`` bytes, when the caller knows it).
    """
    spec = SUPPORTED_ALGORITHMS.get(parsed.alg)
    if size is None:
        size = (key.key_size + 7) // 8
    if spec is None or len(parsed.signature) != size:
        return False
    digest, prefix = spec
    try:
        recovered = key.recover_data_from_signature(parsed.signature, _PKCS1, None)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return hmac.compare_digest(recovered, prefix + digest(parsed.signing_input).digest())


def decode_payload(parsed: ParsedToken) -> dict[str, Any]:
    """Parse the claims of a token whose signature has been verified.

    Raises :class:`InvalidTokenError` (``malformed``) for a non-canonical payload
    encoding or anything :func:`parse_json_object` refuses.
    """
    payload = parsed.payload
    if payload is None:
        # Built by hand, or non-zero trailing bits: decode (and refuse) it here.
        payload = b64url_decode(parsed.payload_segment)
    return parse_json_object(payload)
