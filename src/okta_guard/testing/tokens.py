"""Access tokens shaped like Okta's, signed by hand so tests can break them at will.

:func:`sign_compact` signs *any* header and claims with RS256, whatever the
header says (``alg: none``, a foreign ``kid``, ``typ: dpop+jwt`` ...), so negative
tests get exactly the token they describe.  :data:`OMIT` removes a default
claim or header field.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .keys import KeyRing, SigningKey

__all__ = ["OMIT", "b64url", "build_claims", "new_token_id", "read_okta_token", "sign_compact"]


class _Omit:
    """Sentinel type of :data:`OMIT`."""

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"


_COMPACT = json.JSONEncoder(separators=(",", ":"))
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()

OMIT: Final = _Omit()
"""Pass as a claim or header value to ``mint_token`` to leave that field out."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_token_id(prefix: str = "AT.") -> str:
    """A random token id like Okta's ``jti`` (``AT.`` + 43 URL-safe characters)."""
    return prefix + secrets.token_urlsafe(32)[:43]


def _merge(base: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(base)
    for name, value in (extra or {}).items():
        if value is OMIT:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def build_claims(
    *,
    issuer: str,
    audience: str | list[str],
    client_id: str,
    scopes: Iterable[str],
    now: float,
    expires_in: float,
    subject: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of an Okta access token, with ``extra`` merged over them."""
    iat = int(now)
    claims: dict[str, Any] = {
        "ver": 1,
        "jti": new_token_id(),
        "iss": issuer,
        "aud": audience,
        "iat": iat,
        "exp": int(iat + expires_in),
        "cid": client_id,
        "scp": list(scopes),
        "sub": subject if subject is not None else client_id,
    }
    return _merge(claims, extra)


def sign_compact(
    key: SigningKey, claims: Mapping[str, Any], headers: Mapping[str, Any] | None = None
) -> str:
    """Sign ``claims`` with RS256 under ``{"alg": "RS256", "kid": key.kid}`` + ``headers``.

    The signature is always RS256 by ``key``, even if ``headers`` claim
    otherwise; use :data:`OMIT` to drop ``alg`` or ``kid``.
    """
    header = _merge({"alg": "RS256", "kid": key.kid}, headers)
    signing_input = (
        b64url(_COMPACT.encode(header).encode())
        + "."
        + b64url(_COMPACT.encode(dict(claims)).encode())
    )
    signature = key.private_key.sign(signing_input.encode("ascii"), _PKCS1V15, _SHA256)
    return signing_input + "." + b64url(signature)


def read_okta_token(token: str, ring: KeyRing, issuer: str) -> dict[str, Any] | None:
    """Return the claims of a token this server signed for ``issuer``, else ``None``.

    Checks structure, ``alg`` RS256, a ``kid`` the ring ever held, the signature and
    ``iss``.  Expiry and revocation are left to the caller (it owns the clock).
    """
    if not isinstance(token, str) or len(token) > 65536:
        return None
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = ring.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != "RS256":
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    if claims.get("iss") != issuer:
        return None
    return claims
