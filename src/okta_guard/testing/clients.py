"""Registered OAuth clients of the mock issuer and Okta's client authentication rules.

Supports ``client_secret_basic``, ``client_secret_post``, ``client_secret_jwt``
(HS256/384/512, secret of at least 32 characters) and ``private_key_jwt``
(RS/ES 256/384/512 against the client's registered public keys; ``iss`` = ``sub``
= client id, ``aud`` = the full token URL, ``exp`` at most one hour ahead,
``jti`` single use).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .records import MockRequest, MockResponse, oauth_error

__all__ = [
    "ASSERTION_TYPE",
    "ClientAuthenticator",
    "PublicKeyLike",
    "RegisteredClient",
    "load_public_keys",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_HMAC_ALGS = ("HS256", "HS384", "HS512")
_PUBLIC_ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
_MAX_ASSERTION_LIFETIME = 3600

PublicKeyLike = Any
"""A public key: a cryptography RSA/EC key (public or private), PEM text, a JWK or JWKS dict."""

_VerifyKey = Any


def load_public_keys(value: PublicKeyLike) -> list[tuple[str | None, _VerifyKey]]:
    """Normalise a public key description into ``(kid, key)`` pairs usable by PyJWT."""
    if value is None:
        return []
    if isinstance(value, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return [(None, value.public_key())]
    if isinstance(value, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return [(None, value)]
    if isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        if raw.lstrip().startswith(b"{"):
            return load_public_keys(json.loads(raw))
        if b"PRIVATE KEY" in raw:
            private = serialization.load_pem_private_key(raw, password=None)
            return load_public_keys(private)
        return load_public_keys(serialization.load_pem_public_key(raw))
    if isinstance(value, Mapping):
        if "keys" in value:
            return [pair for jwk in value["keys"] for pair in load_public_keys(jwk)]
        public = {k: v for k, v in value.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        kid = public.get("kid")
        return [(kid if isinstance(kid, str) else None, jwt.PyJWK(public).key)]
    if isinstance(value, Iterable):
        return [pair for item in value for pair in load_public_keys(item)]
    raise TypeError(f"unsupported public key type: {type(value).__name__}")


@dataclass
class RegisteredClient:
    """A client (Okta "app") allowed to use the client credentials grant.

    ``scopes`` are the scopes its access policy grants.  ``auth_methods`` are
    the token endpoint authentication methods it may use.  ``dpop`` requires
    DPoP-bound tokens (``dpop_bound_access_tokens`` in Okta).
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    scopes: frozenset[str] = frozenset()
    public_keys: list[tuple[str | None, _VerifyKey]] = field(default_factory=list, repr=False)
    auth_methods: frozenset[str] = frozenset()
    dpop: bool = False

    @staticmethod
    def default_methods(secret: str | None, has_keys: bool) -> frozenset[str]:
        """The methods Okta allows for a client with this secret and these keys."""
        methods: set[str] = set()
        if secret is not None:
            methods.update({"client_secret_basic", "client_secret_post"})
            if len(secret) >= 32:
                methods.add("client_secret_jwt")
        if has_keys:
            methods.add("private_key_jwt")
        return frozenset(methods)


_INVALID_CLIENT = (
    "Client authentication failed. Either the client or the client credentials are invalid."
)


def _invalid_client(description: str = _INVALID_CLIENT) -> MockResponse:
    return oauth_error(401, "invalid_client", description)


class ClientAuthenticator:
    """Authenticates requests against registered clients; remembers used assertion ids."""

    def __init__(self) -> None:
        self.clients: dict[str, RegisteredClient] = {}
        self._used_jti: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def authenticate(
        self, request: MockRequest, form: Mapping[str, str], endpoint_url: str, now: float
    ) -> RegisteredClient | MockResponse:
        """Return the authenticated client, or the Okta error response to send."""
        authorization = request.headers.get("authorization", "")
        basic = authorization[:6].lower() == "basic "
        used = [basic, "client_secret" in form, "client_assertion" in form]
        if sum(used) > 1:
            return oauth_error(
                400,
                "invalid_request",
                "Cannot supply multiple client credentials. Use one of the following: "
                "credentials in the Authorization header, credentials in the post body, "
                "or a client_assertion in the post body.",
            )
        if basic:
            return self._secret(authorization[6:].strip(), form)
        if "client_secret" in form:
            return self._check_secret(
                form.get("client_id", ""), form["client_secret"], "client_secret_post"
            )
        if "client_assertion" in form:
            return self._assertion(form, endpoint_url, now)
        return _invalid_client("No client credentials found.")

    def claimed_client_id(self, request: MockRequest) -> str | None:
        """The registered client a request says it comes from (unverified; for rate limits)."""
        authorization = request.headers.get("authorization", "")
        claimed: object = None
        if authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except ValueError:
                return None
            claimed = unquote_plus(decoded.partition(":")[0])
        else:
            form = request.form()
            claimed = form.get("client_id")
            if claimed is None and "client_assertion" in form:
                try:
                    unverified = jwt.decode(
                        form["client_assertion"], options={"verify_signature": False}
                    )
                except jwt.PyJWTError:
                    return None
                claimed = unverified.get("sub") if isinstance(unverified, dict) else None
        return claimed if isinstance(claimed, str) and claimed in self.clients else None

    def _secret(self, encoded: str, form: Mapping[str, str]) -> RegisteredClient | MockResponse:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII base64 text
            return _invalid_client()
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return _invalid_client()
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if "client_id" in form and form["client_id"] != client_id:
            return _invalid_client()
        return self._check_secret(client_id, secret, "client_secret_basic")

    def _check_secret(
        self, client_id: str, secret: str, method: str
    ) -> RegisteredClient | MockResponse:
        if not client_id:
            return _invalid_client("No client credentials found.")
        client = self.clients.get(client_id)
        if client is None:
            return _invalid_client("Invalid value for 'client_id' parameter.")
        if method not in client.auth_methods or client.client_secret is None:
            return _invalid_client()
        if not _equal(secret, client.client_secret):
            return _invalid_client(
                "The client secret supplied for a confidential client is invalid."
            )
        return client

    def _assertion(
        self, form: Mapping[str, str], endpoint_url: str, now: float
    ) -> RegisteredClient | MockResponse:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return oauth_error(
                400,
                "invalid_request",
                f"The client_assertion_type must be '{ASSERTION_TYPE}'.",
            )
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _invalid_client("The client_assertion is not a valid JWT.")
        sub = unverified.get("sub")
        client = self.clients.get(sub) if isinstance(sub, str) else None
        if client is None or form.get("client_id", sub) != sub:
            return _invalid_client("Invalid value for 'client_id' parameter.")
        alg = header.get("alg")
        keys: list[_VerifyKey]
        if alg in _HMAC_ALGS and "client_secret_jwt" in client.auth_methods:
            keys = [client.client_secret.encode()] if client.client_secret else []
        elif alg in _PUBLIC_ALGS and "private_key_jwt" in client.auth_methods:
            kid = header.get("kid")
            keys = [k for key_id, k in client.public_keys if kid is None or key_id in (None, kid)]
        elif alg in _HMAC_ALGS and client.client_secret and len(client.client_secret) < 32:
            return _invalid_client(
                "The client secret is too short for client_secret_jwt (Okta requires >= 32 "
                "characters); register a longer secret or use client_secret_basic."
            )
        else:
            return _invalid_client("The client_assertion signature algorithm is not allowed.")
        return self._verify_assertion(assertion, str(alg), keys, client, endpoint_url, now)

    def _verify_assertion(
        self,
        assertion: str,
        alg: str,
        keys: list[_VerifyKey],
        client: RegisteredClient,
        endpoint_url: str,
        now: float,
    ) -> RegisteredClient | MockResponse:
        claims: dict[str, Any] | None = None
        if alg in _HMAC_ALGS:
            if keys and _hmac_valid(assertion, alg, keys[0]):
                claims = jwt.decode(assertion, options={"verify_signature": False})
            keys = []
        for key in keys:
            try:
                claims = jwt.decode(
                    assertion,
                    key,
                    algorithms=[alg],
                    options={
                        "verify_aud": False,
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                        "verify_iss": False,
                    },
                )
                break
            except jwt.PyJWTError:
                continue
        if claims is None:
            return _invalid_client("The client_assertion signature is invalid.")
        aud = claims.get("aud")
        if not (aud == endpoint_url or (isinstance(aud, list) and endpoint_url in aud)):
            return _invalid_client(
                "The audience claim for client_assertion must be the endpoint invoked for "
                "the request."
            )
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            return _invalid_client(
                "The issuer and subject claims for client_assertion must be the client_id."
            )
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return _invalid_client("The client_assertion token must contain an 'exp' claim.")
        if exp <= now:
            return _invalid_client("The client_assertion token is expired.")
        if exp > now + _MAX_ASSERTION_LIFETIME:
            return _invalid_client(
                "The client_assertion token has an expiration too far into the future."
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return _invalid_client("The client_assertion token must contain a 'jti' claim.")
        with self._lock:
            for seen, until in list(self._used_jti.items()):
                if until <= now:
                    del self._used_jti[seen]
            if (client.client_id, jti) in self._used_jti:
                return _invalid_client("The client_assertion token has already been used.")
            self._used_jti[(client.client_id, jti)] = float(exp)
        return client


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _hmac_valid(assertion: str, alg: str, secret: bytes) -> bool:
    """Check an HS256/384/512 signature (by hand: PyJWT warns on Okta's 32-byte minimum)."""
    signing_input, _, signature = assertion.rpartition(".")
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    expected = hmac.new(secret, signing_input.encode("ascii", "replace"), digest).digest()
    try:
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, given)
