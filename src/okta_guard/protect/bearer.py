"""Where a request's access token comes from, and what a route requires of it.

Pure helpers shared by the middleware, :func:`~okta_guard.protect.scopes.require_scopes` and
the FastAPI dependency: strict ``Authorization: Bearer`` parsing (RFC 6750 §2.1),
refusal of tokens in the URL or form body, the scope requirement check, and the
``scope["user"]`` / ``scope["auth"]`` conventions of Starlette.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection, Request
from starlette.types import Scope

from okta_guard._grammar import B64TOKEN_CHARS, SCOPE_TOKEN
from okta_guard.errors import ConfigurationError, InsufficientScopeError, InvalidRequestError
from okta_guard.models import AccessToken
from okta_guard.protect.challenge import MissingCredentialsError
from okta_guard.protect.dpop import authenticate_dpop, dpop_support, is_dpop_scheme

__all__ = [
    "MIDDLEWARE_KEY",
    "VERIFIER_KEY",
    "ScopeRequirement",
    "Verifier",
    "authenticate_connection",
    "bearer_token",
    "find_verifier",
    "form_has_access_token",
    "query_has_access_token",
    "set_anonymous",
    "set_authenticated",
]

#: ASGI scope key where the middleware leaves its verifier for decorated routes.
VERIFIER_KEY = "okta_guard.verifier"
#: ASGI scope key where the middleware leaves itself (realm, metadata URL).
MIDDLEWARE_KEY = "okta_guard.middleware"
#: ``app.state`` attribute where ``require_scopes`` looks for a verifier.
APP_STATE_ATTR = "okta_guard_verifier"

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_B64TOKEN_CHARS = B64TOKEN_CHARS
_AUTH_SCHEME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORM_TYPE = b"application/x-www-form-urlencoded"


@runtime_checkable
class Verifier(Protocol):
    """What the web integrations need from a verifier (``TokenVerifier`` fits)."""

    @property
    def issuer(self) -> str:
        """The issuer URL (custom authorization server)."""
        ...

    async def verify_async(self, token: str) -> AccessToken:
        """Verify ``token``; raise an ``OktaGuardError`` subclass when it is not acceptable."""
        ...

    async def prewarm_async(self) -> object:
        """Fetch discovery metadata and keys ahead of the first request."""
        ...


def default_realm(verifier: object) -> str:
    """The realm used when none is configured: the verifier's (first) audience, or "api"."""
    audience = getattr(verifier, "audience", None)
    if isinstance(audience, (tuple, list)) and audience:
        audience = audience[0]
    return audience if isinstance(audience, str) and audience else "api"


def bearer_token(authorization: bytes | None) -> str | None:
    """Parse an ``Authorization`` value: the token, ``None`` if not Bearer credentials.

    Raises :class:`InvalidRequestError` for a malformed Bearer header.
    """
    if authorization is None:
        return None
    if authorization[6:7] == b" " and authorization[:6].lower() == b"bearer":
        token = authorization[7:]
        if token[:1] == b" ":
            token = token.lstrip(b" ")
        core = token.rstrip(b"=")
        # translate(None, allowed) deletes every allowed byte: empty means all allowed
        if core and not core.translate(None, _B64TOKEN_CHARS):
            return token.decode("ascii")
    scheme, _, _rest = authorization.partition(b" ")
    if scheme.lower() != b"bearer" and _AUTH_SCHEME.fullmatch(scheme):
        return None  # another scheme (Basic, DPoP...): no bearer credentials
    raise InvalidRequestError(
        "The Authorization header is malformed; send 'Authorization: Bearer <access token>'.",
        reason="malformed_authorization",
    )


def scan_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """Return the single ``Authorization`` value and whether the body is a URL-encoded form.

    Raises :class:`InvalidRequestError` if ``Authorization`` appears more than once.
    """
    authorization: bytes | None = None
    form = False
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                raise InvalidRequestError(
                    "The request has more than one Authorization header; send exactly one.",
                    reason="duplicate_authorization",
                )
            authorization = value
        elif name == b"content-type" and value[:33].lower() == _FORM_TYPE:
            form = True
    return authorization, form


def _has_access_token_field(data: bytes) -> bool:
    return any(
        key == "access_token"
        for key, _ in parse_qsl(data.decode("latin-1"), keep_blank_values=True)
    )


def query_has_access_token(query_string: bytes) -> bool:
    """Tell whether the query string carries an ``access_token`` parameter (RFC 6750 §2.3)."""
    if not query_string or (b"access_token" not in query_string and b"%" not in query_string):
        return False
    return _has_access_token_field(query_string)


def form_has_access_token(body: bytes) -> bool:
    """Tell whether a URL-encoded form body carries ``access_token`` (RFC 6750 §2.2)."""
    if b"access_token" not in body and b"%" not in body:
        return False
    return _has_access_token_field(body)


def token_in_url_error() -> InvalidRequestError:
    """The 400 answer for an access token sent in the query string or form body."""
    return InvalidRequestError(
        "Access tokens are accepted only in the Authorization header, "
        "not in the URL or the request body.",
        reason="token_not_in_header",
    )


def set_authenticated(scope: Scope, token: AccessToken) -> None:
    """Record a verified token the way Starlette's AuthenticationMiddleware does."""
    scope["user"] = token
    scope["auth"] = credentials_for(token)
    state = scope.get("state")
    if state is None:
        scope["state"] = {"access_token": token}
    else:
        state["access_token"] = token


def _plain_credentials() -> bool:
    # AuthCredentials is a plain class whose __init__ only stores ``scopes`` (a list).
    probe = AuthCredentials(["x"])
    return "__slots__" not in vars(AuthCredentials) and vars(probe) == {"scopes": ["x"]}


_new_object = object.__new__
_PLAIN_CREDENTIALS = _plain_credentials()


def credentials_for(token: AccessToken) -> AuthCredentials:
    """A fresh Starlette ``AuthCredentials`` holding the token's scopes (once per request).

    Built without the Python-level ``__init__`` while ``AuthCredentials`` keeps its
    plain shape (checked at import); the result is the very same object either way.
    """
    if _PLAIN_CREDENTIALS:
        credentials: AuthCredentials = _new_object(AuthCredentials)
        credentials.scopes = list(token.scopes)
        return credentials
    return AuthCredentials(list(token.scopes))  # pragma: no cover - a future Starlette


_ANONYMOUS = UnauthenticatedUser()


def set_anonymous(scope: Scope) -> None:
    """Record an anonymous request (``allow_anonymous`` mode)."""
    scope["user"] = _ANONYMOUS
    scope["auth"] = AuthCredentials()
    state = scope.get("state")
    if state is None:
        scope["state"] = {"access_token": None}
    else:
        state["access_token"] = None


def find_verifier(scope: Scope, explicit: Verifier | None = None) -> Verifier:
    """The verifier for a route: the explicit one, the middleware's, or ``app.state``'s."""
    if explicit is not None:
        return explicit
    found = scope.get(VERIFIER_KEY)
    if found is None:
        app = scope.get("app")
        state = getattr(app, "state", None)
        found = getattr(state, APP_STATE_ATTR, None) if state is not None else None
    if found is None:
        raise ConfigurationError(
            "No verifier for this protected route: add OktaGuardMiddleware, pass "
            f"verifier=... to require_scopes, or set app.state.{APP_STATE_ATTR}."
        )
    verifier: Verifier = found
    return verifier


async def authenticate_connection(conn: HTTPConnection, explicit: Verifier | None) -> AccessToken:
    """Return the request's verified token, verifying it here if no middleware did.

    Raises the same :class:`~okta_guard.errors.OktaGuardError` answers as the
    middleware (missing credentials, 400, 401, 503).
    """
    scope = conn.scope
    user = scope.get("user")
    if isinstance(user, AccessToken):
        return user
    verifier = find_verifier(scope, explicit)
    authorization, form = scan_headers(scope["headers"])
    token = bearer_token(authorization)
    if query_has_access_token(scope.get("query_string", b"")):
        raise token_in_url_error()
    if form and isinstance(conn, Request) and form_has_access_token(await conn.body()):
        raise token_in_url_error()
    if token is None:
        support = dpop_support(verifier) if is_dpop_scheme(authorization) else None
        if support is None or authorization is None:
            raise MissingCredentialsError()
        access_token = await authenticate_dpop(scope, support, authorization)
        set_authenticated(scope, access_token)
        return access_token
    access_token = await verifier.verify_async(token)
    set_authenticated(scope, access_token)
    return access_token


@dataclass(frozen=True)
class ScopeRequirement:
    """The scopes a route requires: every one of ``all_of`` and one of ``any_of``."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()

    @classmethod
    def build(cls, all_of: Iterable[str], any_of: Iterable[str] | None) -> ScopeRequirement:
        """Validate and build a requirement (raises ``ConfigurationError``)."""
        required = tuple(dict.fromkeys(all_of))
        alternatives = tuple(dict.fromkeys(any_of or ()))
        for scope in (*required, *alternatives):
            if not isinstance(scope, str) or not scope or not _SCOPE_TOKEN.fullmatch(scope):
                raise ConfigurationError(
                    f"Invalid scope name {scope!r}: scopes are non-empty strings without "
                    "spaces, quotes or backslashes."
                )
        if any_of is not None and not alternatives:
            raise ConfigurationError("require_scopes(any_of=...) needs at least one scope.")
        return cls(required, alternatives)

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope named by this requirement (for audits and metadata)."""
        return tuple(dict.fromkeys((*self.all_of, *self.any_of)))

    def allows(self, token: AccessToken) -> bool:
        """Tell whether ``token`` satisfies the requirement."""
        granted = token.scopes
        return granted.issuperset(self.all_of) and (
            not self.any_of or not granted.isdisjoint(self.any_of)
        )

    def check(self, token: AccessToken) -> None:
        """Raise :class:`InsufficientScopeError` unless ``token`` satisfies the requirement."""
        granted = token.scopes
        if self.all_of and not granted.issuperset(self.all_of):
            raise InsufficientScopeError(self.all_of)
        if self.any_of and granted.isdisjoint(self.any_of):
            raise InsufficientScopeError(self.any_of, any_of=True)

    def as_dict(self) -> Mapping[str, Any]:
        """A JSON-friendly form."""
        return {"all_of": list(self.all_of), "any_of": list(self.any_of)}


_SCOPE_TOKEN = SCOPE_TOKEN
