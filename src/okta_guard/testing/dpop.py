"""DPoP (RFC 9449) at the mock's token endpoint, the way Okta does it for service apps.

For a client registered with ``dpop=True``: a token request without a ``DPoP``
proof fails with ``invalid_dpop_proof``; a proof without a current nonce gets
400 ``use_dpop_nonce`` and a ``DPoP-Nonce`` header; a good proof yields a
``token_type: DPoP`` token whose ``cnf.jkt`` is the proof key's RFC 7638
thumbprint.  Nonces rotate every 24 hours and stay valid for 3 days.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Mapping
from typing import Any

import jwt

from .records import MockResponse, oauth_error
from .tokens import b64url

__all__ = ["DPoPValidator", "jwk_thumbprint"]

_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
_NONCE_ROTATION = 24 * 3600.0
_NONCE_VALIDITY = 3 * 24 * 3600.0
_PROOF_WINDOW = 300.0
_REQUIRED = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url-encoded."""
    members = _REQUIRED.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("unsupported or incomplete JWK")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _invalid(description: str) -> MockResponse:
    return oauth_error(400, "invalid_dpop_proof", description)


class DPoPValidator:
    """Checks DPoP proofs sent to the token endpoint; owns the server nonces."""

    def __init__(self) -> None:
        self._nonces: dict[str, float] = {}
        self._used_jti: dict[str, float] = {}
        self._lock = threading.Lock()

    def current_nonce(self, now: float) -> str:
        """The nonce to hand out now (a new one every 24 hours)."""
        with self._lock:
            for nonce, issued in list(self._nonces.items()):
                if now - issued >= _NONCE_VALIDITY:
                    del self._nonces[nonce]
            if self._nonces:
                latest, issued = max(self._nonces.items(), key=lambda item: item[1])
                if now - issued < _NONCE_ROTATION:
                    return latest
            nonce = secrets.token_urlsafe(24)
            self._nonces[nonce] = now
            return nonce

    def _nonce_ok(self, nonce: object, now: float) -> bool:
        with self._lock:
            issued = self._nonces.get(nonce) if isinstance(nonce, str) else None
        return issued is not None and now - issued < _NONCE_VALIDITY

    def check(self, proof: str | None, htu: str, now: float) -> str | MockResponse:
        """Validate a proof for ``POST htu``; return the key thumbprint or the error answer."""
        if not proof:
            return _invalid("The DPoP proof JWT header is missing.")
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError:
            return _invalid("The DPoP proof JWT is malformed.")
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt":
            return _invalid("The DPoP proof JWT 'typ' header must be 'dpop+jwt'.")
        if header.get("alg") not in _ALGS or not isinstance(jwk, dict):
            return _invalid("The DPoP proof JWT must use an asymmetric 'alg' and a 'jwk' header.")
        if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi", "k")):
            return _invalid("The DPoP proof JWT 'jwk' header must be a public key.")
        try:
            key = jwt.PyJWK(jwk, algorithm=str(header["alg"])).key
            claims = jwt.decode(
                proof,
                key,
                algorithms=[str(header["alg"])],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
            thumbprint = jwk_thumbprint(jwk)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            return _invalid("The DPoP proof JWT signature is invalid.")
        if claims.get("htm") != "POST" or claims.get("htu") != htu:
            return _invalid("The DPoP proof JWT 'htm' or 'htu' claim does not match the request.")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            return _invalid("The DPoP proof JWT 'iat' claim is missing.")
        if abs(now - iat) > _PROOF_WINDOW:
            return _invalid("The DPoP proof JWT 'iat' claim is too far from the current time.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return _invalid("The DPoP proof JWT 'jti' claim is missing.")
        if not self._nonce_ok(claims.get("nonce"), now):
            return oauth_error(
                400,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
                {"dpop-nonce": self.current_nonce(now)},
            )
        with self._lock:
            for seen, until in list(self._used_jti.items()):
                if until <= now:
                    del self._used_jti[seen]
            if jti in self._used_jti:
                return _invalid("The DPoP proof JWT 'jti' has already been used.")
            self._used_jti[jti] = now + 2 * _PROOF_WINDOW
        return thumbprint
