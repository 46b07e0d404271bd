"""How the token client proves who it is: the four Okta client authentication methods.

``client_secret_basic`` (HTTP Basic, the default), ``client_secret_post`` (form
fields), ``private_key_jwt`` (an assertion signed with the app's RSA or EC private
key) and ``client_secret_jwt`` (an HS256 assertion keyed with the secret).  An
authenticator adds its headers and form fields to one token request; assertions
are built fresh for every request (new ``jti``, short ``exp``) because Okta
rejects a reused ``jti``.  Secrets live in :class:`Secret`, which never shows its
value in a ``repr``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_guard._grammar import AUTH_METHODS
from okta_guard._sansio import HttpRequest
from okta_guard.errors import ConfigurationError

__all__ = [
    "ASSERTION_LIFETIME",
    "ASSERTION_TYPE",
    "AUTH_METHODS",
    "ClientAuthenticator",
    "PrivateKeyInput",
    "Secret",
    "build_authenticator",
    "client_authentication",
    "form_post",
    "load_private_key",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300.0
MIN_JWT_SECRET_LENGTH = 32

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PrivateKeyInput = str | bytes | Mapping[str, Any] | PrivateKey

_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class Secret:
    """A secret string that stays out of ``repr``, ``str`` and logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself (only to put it on the wire)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._value)


class ClientAuthenticator(Protocol):
    """Adds client authentication to one token request."""

    method: str

    def apply(self, headers: dict[str, str], form: dict[str, str]) -> None:
        """Add this method's headers and form fields for a request sent now."""


class _SecretBasic:
    method = "client_secret_basic"

    def __init__(self, client_id: str, secret: Secret) -> None:
        # RFC 6749 section 2.3.1: form-urlencode id and secret before base64.
        raw = f"{quote_plus(client_id)}:{quote_plus(secret.reveal())}"
        self._header = Secret("Basic " + base64.b64encode(raw.encode()).decode("ascii"))

    def apply(self, headers: dict[str, str], form: dict[str, str]) -> None:
        headers["Authorization"] = self._header.reveal()

    def __repr__(self) -> str:
        return "<client_secret_basic>"


class _SecretPost:
    method = "client_secret_post"

    def __init__(self, client_id: str, secret: Secret) -> None:
        self._client_id = client_id
        self._secret = secret

    def apply(self, headers: dict[str, str], form: dict[str, str]) -> None:
        form["client_id"] = self._client_id
        form["client_secret"] = self._secret.reveal()

    def __repr__(self) -> str:
        return "<client_secret_post>"


class _Assertion:
    """A JWT client assertion signer (``private_key_jwt`` or ``client_secret_jwt``)."""

    def __init__(
        self,
        method: str,
        client_id: str,
        token_url: str,
        key: Any,
        algorithm: str,
        key_id: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.method = method
        self._client_id = client_id
        self._token_url = token_url
        self._key = key
        self._algorithm = algorithm
        self._headers = {"kid": key_id} if key_id else None
        self._clock = clock

    def assertion(self) -> str:
        """A fresh signed assertion: iss = sub = client id, aud = token URL, new jti."""
        now = int(self._clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._token_url,
            "iat": now,
            "exp": now + int(ASSERTION_LIFETIME),
            "jti": secrets.token_urlsafe(24),
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers=self._headers)

    def apply(self, headers: dict[str, str], form: dict[str, str]) -> None:
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = self.assertion()

    def __repr__(self) -> str:
        return f"<{self.method} alg={self._algorithm}>"


def load_private_key(key: PrivateKeyInput) -> tuple[PrivateKey, str, str | None]:
    """Load an RSA or EC private key from PEM, a JWK (dict or JSON text) or a key object.

    Returns ``(key, algorithm, kid)`` where ``kid`` comes from the JWK, if any.
    Errors never echo the key material.
    """
    kid: str | None = None
    loaded: object
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        loaded = key
    elif isinstance(key, Mapping) or (isinstance(key, str) and key.lstrip().startswith("{")):
        try:
            jwk = dict(json.loads(key)) if isinstance(key, str) else dict(key)
        except (ValueError, TypeError):
            raise ConfigurationError("The private key JWK is not valid JSON.") from None
        if "d" not in jwk:
            raise ConfigurationError(
                "The JWK is a public key; private_key_jwt needs the private key (with 'd'). "
                "Register the public half on the Okta app and keep the private half here."
            )
        kid_value = jwk.get("kid")
        kid = kid_value if isinstance(kid_value, str) and kid_value else None
        try:
            loaded = jwt.PyJWK(jwk).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            raise ConfigurationError(
                "The private key JWK could not be loaded; it must be an RSA or EC private key."
            ) from None
    elif isinstance(key, (str, bytes)):
        data = key.encode() if isinstance(key, str) else key
        try:
            loaded = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "The private key could not be read: give an unencrypted PEM private key "
                "(-----BEGIN PRIVATE KEY-----) or a private JWK."
            ) from None
    else:
        raise ConfigurationError("private_key must be PEM text, a JWK, or a key object.")
    if isinstance(loaded, rsa.RSAPrivateKey):
        if loaded.key_size < 2048:
            raise ConfigurationError("The RSA private key is too short; use at least 2048 bits.")
        return loaded, "RS256", kid
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        alg = _EC_ALGS.get(loaded.curve.name)
        if alg is None:
            raise ConfigurationError(
                f"The EC key curve {loaded.curve.name} is not supported; use P-256, P-384 or P-521."
            )
        return loaded, alg, kid
    raise ConfigurationError("The private key must be an RSA or EC private key.")


def build_authenticator(
    method: str,
    *,
    client_id: str,
    secret: Secret | None,
    private_key: PrivateKeyInput | None,
    key_id: str | None,
    token_url: str,
    clock: Callable[[], float],
) -> ClientAuthenticator:
    """Check the credentials fit ``method`` and return its authenticator.

    Raises :class:`ConfigurationError` naming what is missing or wrong.
    """
    if method not in AUTH_METHODS:
        raise ConfigurationError(
            f"Unknown auth_method {method!r}; use one of: {', '.join(AUTH_METHODS)}."
        )
    if method == "private_key_jwt":
        if private_key is None:
            raise ConfigurationError(
                "auth_method 'private_key_jwt' needs private_key (PEM or JWK of the key whose "
                "public half is registered on the Okta app)."
            )
        key, alg, jwk_kid = load_private_key(private_key)
        return _Assertion(method, client_id, token_url, key, alg, key_id or jwk_kid, clock)
    if private_key is not None:
        raise ConfigurationError(
            f"A private_key was given but auth_method is {method!r}; "
            "use auth_method='private_key_jwt' (or drop the key)."
        )
    if secret is None or not secret.reveal():
        raise ConfigurationError(
            f"auth_method {method!r} needs the client secret (Okta admin: Applications > your "
            "app > General > Client Credentials), e.g. from OKTA_CLIENT_SECRET."
        )
    if method == "client_secret_basic":
        return _SecretBasic(client_id, secret)
    if method == "client_secret_post":
        return _SecretPost(client_id, secret)
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigurationError(
            f"client_secret_jwt needs a client secret of at least {MIN_JWT_SECRET_LENGTH} "
            "characters (Okta's rule for HS256 assertions); generate a longer secret on the app "
            "or use client_secret_basic."
        )
    return _Assertion(method, client_id, token_url, secret.reveal().encode(), "HS256", None, clock)


def client_authentication(
    method: str,
    *,
    client_id: str,
    client_secret: str | None,
    private_key: PrivateKeyInput | None,
    key_id: str | None,
    endpoint: str,
    clock: Callable[[], float],
) -> tuple[str, ClientAuthenticator]:
    """The method a client uses and its authenticator, from the client's credentials.

    A private key given alone (no secret) with the default ``client_secret_basic``
    selects ``private_key_jwt``: the key says which method is meant.  ``endpoint`` is
    the URL the requests go to (the audience of JWT assertions).
    """
    if private_key is not None and client_secret is None and method == "client_secret_basic":
        method = "private_key_jwt"
    authenticator = build_authenticator(
        method,
        client_id=client_id,
        secret=Secret(client_secret) if client_secret is not None else None,
        private_key=private_key,
        key_id=key_id,
        token_url=endpoint,
        clock=clock,
    )
    return method, authenticator


def form_post(
    authenticator: ClientAuthenticator,
    url: str,
    form: Mapping[str, str],
    *,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
) -> HttpRequest:
    """One authenticated form POST to an Okta endpoint (token, introspection), JSON asked."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    all_form = dict(form)
    authenticator.apply(all_headers, all_form)
    return HttpRequest(
        url, method="POST", headers=all_headers, form=tuple(all_form.items()), max_bytes=max_bytes
    )
