"""The public key of a DPoP proof (RFC 9449 §4.2): from its ``jwk`` header to a key.

:func:`check_header` turns a proof's JOSE header into a :class:`ProofKey` - the ``alg``
(asymmetric, from the allowlist), the public key (a ``d`` or any other private member is
refused; RSA >= 2048 bits; an EC point must be on the curve of its ``alg``) and its
RFC 7638 thumbprint - or raises :class:`HeaderRefused` with the refusal's reason.
:func:`signature_ok` checks a proof's signature with that key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from okta_guard.errors import InvalidTokenError
from okta_guard.verify.jws import b64url_decode, parse_json_object

__all__ = [
    "DPOP_ALGORITHMS",
    "HeaderRefused",
    "ProofKey",
    "b64url",
    "check_header",
    "jwk_thumbprint",
    "signature_ok",
]

_EC_CURVES: dict[str, tuple[str, ec.EllipticCurve, int, hashes.HashAlgorithm]] = {
    "ES256": ("P-256", ec.SECP256R1(), 32, hashes.SHA256()),
    "ES384": ("P-384", ec.SECP384R1(), 48, hashes.SHA384()),
    "ES512": ("P-521", ec.SECP521R1(), 66, hashes.SHA512()),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
    "PS256": hashes.SHA256(),
    "PS384": hashes.SHA384(),
    "PS512": hashes.SHA512(),
}
#: Every proof algorithm okta-guard can check (asymmetric only), in preference order.
DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
_HEADER_MEMBERS = frozenset({"typ", "alg", "jwk", "kid"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


class HeaderRefused(ValueError):
    """The proof header is not acceptable; ``args[0]`` is the refusal's reason."""


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC or RSA public JWK, base64url-encoded.

    Raises ``ValueError`` for another key type or a missing member.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None or not all(isinstance(jwk.get(m), str) for m in members):
        raise ValueError("the JWK is not a complete EC or RSA public key")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True)
class ProofKey:
    """A checked proof header: algorithm, public key, verification and thumbprint."""

    alg: str
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    jkt: str
    size: int  # EC: bytes per coordinate; RSA: signature length
    #: EC: the ECDSA signature algorithm; RSA: (padding, hash) - built once per key
    scheme: Any = None
    is_ec: bool = False  # (an isinstance() check against the key's ABC costs more)


def _ec_key(alg: str, jwk: Mapping[str, Any]) -> tuple[ec.EllipticCurvePublicKey, int]:
    crv, curve, size, _ = _EC_CURVES[alg]
    x, y = jwk.get("x"), jwk.get("y")
    if jwk.get("kty") != "EC" or jwk.get("crv") != crv:
        raise ValueError("key type or curve does not match alg")
    if not isinstance(x, str) or not isinstance(y, str):
        raise ValueError("missing coordinate")
    xb, yb = b64url_decode(x.encode("ascii")), b64url_decode(y.encode("ascii"))
    if len(xb) != size or len(yb) != size:
        raise ValueError("coordinate length")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(xb, "big"), int.from_bytes(yb, "big"), curve
    )
    return numbers.public_key(), size  # raises ValueError for a point off the curve


#: Largest RSA proof key accepted, in bits (a proof is checked before its token).
_RSA_MAX_BITS = 8192
_RSA_MAX_EXPONENT = 2**31 - 1


def _rsa_key(jwk: Mapping[str, Any]) -> tuple[rsa.RSAPublicKey, int]:
    n, e = jwk.get("n"), jwk.get("e")
    if jwk.get("kty") != "RSA" or not isinstance(n, str) or not isinstance(e, str):
        raise ValueError("not an RSA key")
    nb, eb = b64url_decode(n.encode("ascii")), b64url_decode(e.encode("ascii"))
    if not nb or nb[0] == 0 or not eb or eb[0] == 0:
        raise ValueError("non-minimal integer")
    modulus = int.from_bytes(nb, "big")
    if modulus.bit_length() < 2048:
        raise ValueError("RSA key too short")
    if modulus.bit_length() > _RSA_MAX_BITS:
        raise ValueError("RSA key too long")
    exponent = int.from_bytes(eb, "big")
    # A huge public exponent makes every verification as slow as a private-key operation
    # (about 80x for a 3072-bit e), paid before any token is checked: refuse it, as Go's
    # crypto/rsa does (e < 2**31); real keys use 65537.
    if exponent < 3 or exponent % 2 == 0 or exponent > _RSA_MAX_EXPONENT:
        raise ValueError("RSA public exponent out of range")
    key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    return key, (modulus.bit_length() + 7) // 8


def check_header(segment: bytes, algorithms: frozenset[str]) -> ProofKey:
    try:
        header = parse_json_object(b64url_decode(segment))
    except InvalidTokenError:
        raise HeaderRefused("dpop_malformed") from None
    if not _HEADER_MEMBERS.issuperset(header):
        raise HeaderRefused("dpop_header")
    if header.get("typ") != "dpop+jwt":
        raise HeaderRefused("dpop_typ")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise HeaderRefused("dpop_alg")
    jwk = header.get("jwk")
    if type(jwk) is not dict:
        raise HeaderRefused("dpop_jwk")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise HeaderRefused("dpop_private_jwk")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        raise HeaderRefused("dpop_jwk")
    try:
        if alg in _EC_CURVES:
            key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
            key, size = _ec_key(alg, jwk)
        else:
            key, size = _rsa_key(jwk)
        jkt = jwk_thumbprint(jwk)
    except (InvalidTokenError, ValueError, TypeError, UnicodeEncodeError):
        raise HeaderRefused("dpop_jwk") from None
    scheme: Any
    if alg in _EC_CURVES:
        scheme = ec.ECDSA(_EC_CURVES[alg][3])
    else:
        digest = _RSA_HASHES[alg]
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg[0] == "R"
            else padding.PSS(padding.MGF1(digest), digest.digest_size)
        )
        scheme = (pad, digest)
    return ProofKey(alg, key, jkt, size, scheme, alg in _EC_CURVES)


def signature_ok(proof_key: ProofKey, signing_input: bytes, signature: bytes) -> bool:
    key: Any = proof_key.key  # EC or RSA, as proof_key.is_ec says
    size, scheme = proof_key.size, proof_key.scheme
    try:
        if proof_key.is_ec:
            if len(signature) != 2 * size:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            key.verify(der, signing_input, scheme)
        else:
            if len(signature) != size:
                return False
            key.verify(signature, signing_input, scheme[0], scheme[1])
    except (InvalidSignature, ValueError):
        return False
    return True
