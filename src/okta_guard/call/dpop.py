"""DPoP (RFC 9449) for the token client: the proof key, proofs, and the server nonces.

:class:`DPoPKey` holds the private key that tokens get bound to (``cnf.jkt`` is its
RFC 7638 thumbprint) and signs proofs: header ``typ: dpop+jwt``, ``alg``, the public
``jwk``; claims ``jti`` (fresh), ``htm``, ``htu`` (the URL without query and fragment),
``iat``, and ``nonce`` / ``ath`` when there is one.  :class:`DPoPSession` is one
client's DPoP state: whether proofs are sent, the token endpoint's nonce and each API
origin's nonce (remembered, so the steady state costs one request).
:func:`dpop_token_flow` wraps the token fetch protocol with Okta's nonce dance.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_guard._sansio import HttpRequest, HttpResponse, Sleep
from okta_guard.call.auth_methods import PrivateKeyInput, load_private_key
from okta_guard.call.policy import Fatal, FetchFlow, Success
from okta_guard.errors import ConfigurationError

__all__ = ["DPoPKey", "DPoPSession", "dpop_token_flow", "proof_htu"]

_NONCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")
_MAX_NONCE = 512
_MAX_ORIGINS = 256


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(length, "big"))


def proof_htu(url: str | httpx.URL) -> str:
    """The ``htu`` of a proof for ``url``: scheme, authority and path (no query, no fragment)."""
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("a DPoP proof needs an absolute http(s) URL")
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


def _origin(url: str | httpx.URL) -> str:
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}".lower()


def clean_nonce(value: object) -> str | None:
    """A server's ``DPoP-Nonce`` value if it is a sane NQCHAR string, else ``None``."""
    if not isinstance(value, str) or not value or len(value) > _MAX_NONCE:
        return None
    return value if _NONCE_CHARS.issuperset(value) else None


class DPoPKey:
    """The private key that DPoP proofs are signed with (EC P-256/384/521 or RSA >= 2048).

    ``DPoPKey()`` makes a fresh EC P-256 key; ``DPoPKey(pem_or_jwk_or_key_object)`` loads
    one.  :attr:`thumbprint` is the ``cnf.jkt`` of tokens bound to it.  The private key
    never appears in a ``repr``.
    """

    def __init__(self, key: PrivateKeyInput | None = None) -> None:
        if key is None:
            key = ec.generate_private_key(ec.SECP256R1())
        loaded, alg, _kid = load_private_key(key)
        self._key = loaded
        self.algorithm = alg
        self.public_jwk: Mapping[str, str] = _public_jwk(loaded)
        canonical = json.dumps(dict(self.public_jwk), separators=(",", ":"), sort_keys=True)
        self.thumbprint = _b64url(hashlib.sha256(canonical.encode()).digest())
        self._headers = {"typ": "dpop+jwt", "jwk": dict(self.public_jwk)}

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.algorithm!r}, jkt={self.thumbprint!r})"

    def proof(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """A fresh proof for one request ``method url`` (and ``access_token``, if given)."""
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError("method must be an HTTP method such as 'GET'")
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(18),
            "htm": method.upper(),
            "htu": proof_htu(url),
            "iat": int(time.time() if now is None else now),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = _b64url(digest)
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=self._headers)


def _public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, str]:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}
    curve = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48), "secp521r1": ("P-521", 66)}
    crv, size = curve[key.curve.name]
    point = key.public_key().public_numbers()
    return {"crv": crv, "kty": "EC", "x": _int_b64(point.x, size), "y": _int_b64(point.y, size)}


class DPoPSession:
    """One client's DPoP state, shared by its threads and tasks.

    ``mode``: ``True`` (always send proofs), ``False`` (never) or ``None`` (start
    without, switch for good when the token endpoint demands proofs).
    """

    def __init__(
        self,
        mode: bool | None,
        key: PrivateKeyInput | DPoPKey | None,
        clock: Callable[[], float],
    ) -> None:
        if mode not in (None, True, False):
            raise ConfigurationError("dpop must be None (when Okta demands it), True or False.")
        if mode is False and key is not None:
            raise ConfigurationError("dpop_key was given but dpop=False; drop one of them.")
        self.mode = mode
        self.key: DPoPKey | None = None
        if mode is not False:
            self.key = key if isinstance(key, DPoPKey) else DPoPKey(key)
        self.active = mode is True
        self.explicit_key = key is not None
        self._clock = clock
        self._lock = threading.Lock()
        self._token_nonce: str | None = None
        self._api_nonces: dict[str, str] = {}

    @property
    def thumbprint(self) -> str | None:
        """The thumbprint of the proof key (``None`` when DPoP is off)."""
        return self.key.thumbprint if self.key is not None else None

    def switch_on(self) -> bool:
        """Start sending proofs (``dpop=None`` after Okta demanded them); True if it changed."""
        with self._lock:
            if self.active or self.mode is not None or self.key is None:
                return False
            self.active = True
            return True

    # -- the token endpoint ------------------------------------------------------------------

    def token_proof(self, token_url: str) -> str | None:
        """The proof for the next token request, or ``None`` while proofs are off."""
        if not self.active or self.key is None:
            return None
        return self.key.proof("POST", token_url, nonce=self._token_nonce, now=self._clock())

    def note_token_nonce(self, response: HttpResponse) -> bool:
        """Remember the token endpoint's ``DPoP-Nonce``; True if it is a new one."""
        nonce = clean_nonce(response.headers.get("dpop-nonce"))
        if nonce is None:
            return False
        with self._lock:
            changed, self._token_nonce = nonce != self._token_nonce, nonce
        return changed

    # -- APIs ----------------------------------------------------------------------------------

    def api_proof(self, method: str, url: str | httpx.URL, access_token: str) -> str:
        """A proof for an API request carrying ``access_token`` (with the origin's nonce)."""
        if self.key is None:
            raise ConfigurationError("This client does not use DPoP (dpop=False).")
        nonce = self._api_nonces.get(_origin(url))
        return self.key.proof(
            method, url, access_token=access_token, nonce=nonce, now=self._clock()
        )

    def note_api_nonce(self, url: str | httpx.URL, response: Any) -> bool:
        """Remember an API's ``DPoP-Nonce`` for its origin; True if it is a new one.

        ``response`` is anything with case-insensitive ``headers`` (httpx, requests and
        aiohttp responses all fit).
        """
        nonce = clean_nonce(response.headers.get("dpop-nonce"))
        if nonce is None:
            return False
        origin = _origin(url)
        with self._lock:
            if self._api_nonces.get(origin) == nonce:
                return False
            if len(self._api_nonces) >= _MAX_ORIGINS and origin not in self._api_nonces:
                self._api_nonces.pop(next(iter(self._api_nonces)))
            self._api_nonces[origin] = nonce
        return True


def _error_code(response: HttpResponse) -> str | None:
    if response.status not in (400, 401):
        return None
    try:
        data = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


def _has_proof(request: HttpRequest) -> bool:
    return any(name.lower() == "dpop" for name in request.headers)


def dpop_token_flow(
    inner: FetchFlow, build_request: Callable[[], HttpRequest], session: DPoPSession
) -> FetchFlow:
    """Okta's DPoP dance around one token fetch (:func:`~okta_guard.call.policy.token_fetch_flow`).

    For each request of ``inner``: a 400 ``invalid_dpop_proof`` to a request without a
    proof switches a ``dpop=None`` client to DPoP and sends again with a proof; a 400
    ``use_dpop_nonce`` with a new ``DPoP-Nonce`` sends once more with that nonce.  Each
    resend is built afresh (new ``jti``, new client assertion).  Every other answer, and
    the last one, goes to ``inner``, which classifies it as usual.
    """
    try:
        item = next(inner)
        while True:
            if isinstance(item, Sleep):
                item = inner.send((yield item))
                continue
            request = item
            reply = yield request
            switched = nonce_retried = False
            while isinstance(reply, HttpResponse) and reply.error is None:
                new_nonce = session.key is not None and session.note_token_nonce(reply)
                code = _error_code(reply)
                had_proof = _has_proof(request)
                if code == "invalid_dpop_proof" and not had_proof and not switched:
                    switched = True
                    if not session.switch_on() and not session.active:
                        break  # dpop=False: inner explains what to change
                elif code == "use_dpop_nonce" and had_proof and new_nonce and not nonce_retried:
                    nonce_retried = True
                else:
                    break
                request = build_request()
                reply = yield request
            item = inner.send(reply)
    except StopIteration as stop:
        result: Success | Fatal = stop.value
        return result
