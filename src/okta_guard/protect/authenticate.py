"""One request, one verdict: read the credentials, call the verifier, record the result.

The ``scope`` conventions are Starlette's (``AuthenticationMiddleware``):
``scope["user"]`` is the :class:`~okta_guard.AccessToken` (or
``UnauthenticatedUser``), ``scope["auth"]`` an ``AuthCredentials`` holding its
scopes, and okta-guard adds ``scope["state"]["access_token"]``.
:func:`authenticate_connection` is the whole check for a Starlette connection
(``require_scopes`` and the FastAPI dependency without the middleware); the
middleware runs the same steps on raw ASGI data, with a synchronous hit path.
"""

from __future__ import annotations

from typing import Any

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.types import Scope

from okta_guard.errors import ConfigurationError
from okta_guard.models import AccessToken
from okta_guard.protect.bearer import (
    MAX_FORM_SCAN,
    bearer_token,
    form_has_access_token,
    query_has_access_token,
    scan_headers,
    token_in_url_error,
)
from okta_guard.protect.challenge import MissingCredentialsError
from okta_guard.protect.dpop import authenticate_dpop, dpop_support, is_dpop_scheme
from okta_guard.protect.protocol import Verifier

__all__ = [
    "APP_STATE_ATTR",
    "MIDDLEWARE_KEY",
    "GrantedScopes",
    "authenticate_connection",
    "credentials_for",
    "find_verifier",
    "middleware_of",
    "request_credentials",
    "set_anonymous",
    "set_authenticated",
    "set_middleware",
]

#: Key in ``scope["state"]`` where the middleware leaves itself for decorated routes (its
#: verifier, realm and metadata URL).  In the request state rather than the scope: the
#: scope already gets ``user`` and ``auth``, and a third new key makes the scope ``dict``
#: grow on a typical Starlette request (~0.2 us, measured with ``python -m bench
#: middleware``).
MIDDLEWARE_KEY = "okta_guard.middleware"
#: ``app.state`` attribute where ``require_scopes`` looks for a verifier.
APP_STATE_ATTR = "okta_guard_verifier"


class GrantedScopes(AuthCredentials):
    """The scopes an access token grants, as a read-only Starlette ``AuthCredentials``.

    ``scopes`` is a sorted tuple (Starlette's ``requires`` and ``"x" in request.auth.scopes``
    work as with a list).  Being immutable, one instance serves every request that
    carries the same verified token: :func:`credentials_for` builds it once per token.
    """

    scopes: tuple[str, ...]  # type: ignore[assignment]  # read-only: a tuple, not a list

    def __init__(self, scopes: frozenset[str]) -> None:
        object.__setattr__(self, "scopes", tuple(sorted(scopes)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("request.auth is read-only (shared by requests with this token)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("request.auth is read-only (shared by requests with this token)")

    def __repr__(self) -> str:
        return f"GrantedScopes(scopes={self.scopes!r})"


class _CredentialsMemo(dict[AccessToken, GrantedScopes]):
    """AccessToken -> its GrantedScopes, by identity (AccessToken compares by identity)."""

    def __missing__(self, token: AccessToken) -> GrantedScopes:
        if len(self) >= _MEMO_SIZE:
            self.clear()
        credentials = self[token] = GrantedScopes(token.scopes)
        return credentials


_MEMO_SIZE = 4096
_memo = _CredentialsMemo()


def credentials_for(token: AccessToken) -> GrantedScopes:
    """The read-only ``AuthCredentials`` of ``token``, built once per token (bounded memo)."""
    return _memo[token]


def set_authenticated(scope: Scope, token: AccessToken, middleware: object = None) -> None:
    """Record a verified token the way Starlette's AuthenticationMiddleware does (and the
    ``middleware`` that verified it, if any)."""
    scope["user"] = token
    scope["auth"] = _memo[token]
    state = _request_state(scope)
    state["access_token"] = token
    if middleware is not None:
        state[MIDDLEWARE_KEY] = middleware


def set_middleware(scope: Scope, middleware: object) -> None:
    """Leave ``middleware`` in the request state for the routes (see :data:`MIDDLEWARE_KEY`)."""
    _request_state(scope)[MIDDLEWARE_KEY] = middleware


def _request_state(scope: Scope) -> dict[str, Any]:
    """``scope["state"]``, made if the server gave none."""
    state: dict[str, Any] | None = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state


def middleware_of(scope: Scope) -> Any:
    """The :class:`~okta_guard.OktaGuardMiddleware` that let this request through, if any."""
    state = scope.get("state")
    return state.get(MIDDLEWARE_KEY) if isinstance(state, dict) else None


_ANONYMOUS = UnauthenticatedUser()
_NO_CREDENTIALS = GrantedScopes(frozenset())


def set_anonymous(scope: Scope, middleware: object = None, *, keep_user: bool = False) -> None:
    """Record a request without a verified token (``allow_anonymous``, excluded paths),
    and the ``middleware`` that let it through, if any.

    With ``keep_user`` a user set by an outer middleware (say Starlette's own
    ``AuthenticationMiddleware``) is left in place.
    """
    if middleware is not None:
        set_middleware(scope, middleware)
    if keep_user and "user" in scope:
        return
    scope["user"] = _ANONYMOUS
    scope["auth"] = _NO_CREDENTIALS
    _request_state(scope)["access_token"] = None


def find_verifier(scope: Scope, explicit: Verifier | None = None) -> Verifier:
    """The verifier for a route: the explicit one, the middleware's, or ``app.state``'s."""
    if explicit is not None:
        return explicit
    middleware = middleware_of(scope)
    found = getattr(middleware, "verifier", None) if middleware is not None else None
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


def request_credentials(scope: Scope) -> tuple[str | None, bytes | None, bool]:
    """The request's bearer token (``None``: no Bearer credentials), its ``Authorization``
    value (for another scheme such as DPoP) and whether its body is a URL-encoded form
    that may still hide a token.

    The one place where the ``Authorization`` header is read.  Raises
    :class:`~okta_guard.errors.InvalidRequestError` (400) for a malformed or repeated
    header, or a token in the query string.
    """
    authorization, form = scan_headers(scope["headers"])
    token = bearer_token(authorization)
    if query_has_access_token(scope.get("query_string", b"")):
        raise token_in_url_error()
    return token, authorization, form


async def _form_prefix(request: Request) -> bytes:
    """At most about :data:`MAX_FORM_SCAN` bytes of the body (the request is refused after)."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_FORM_SCAN:
                break
    except (RuntimeError, ClientDisconnect):  # already consumed by the framework, or gone
        pass
    return bytes(body)


async def authenticate_connection(conn: HTTPConnection, explicit: Verifier | None) -> AccessToken:
    """Return the request's verified token, verifying it here if no middleware did.

    Raises the same :class:`~okta_guard.errors.OktaGuardError` answers as the
    middleware (missing credentials, 400, 401, 503).  The body of a URL-encoded
    form is read only up to :data:`~okta_guard.protect.bearer.MAX_FORM_SCAN` bytes
    unless the token in the header is valid (then the route reads it anyway).
    """
    scope = conn.scope
    user = scope.get("user")
    if isinstance(user, AccessToken):
        return user
    verifier = find_verifier(scope, explicit)
    token, authorization, form = request_credentials(scope)
    request = conn if form and isinstance(conn, Request) else None
    if token is not None:
        access_token = await verifier.verify_async(token)
    else:
        support = dpop_support(verifier) if is_dpop_scheme(authorization) else None
        if support is None or authorization is None:
            if request is not None and form_has_access_token(await _form_prefix(request)):
                raise token_in_url_error()
            raise MissingCredentialsError()
        access_token = await authenticate_dpop(scope, support, authorization)
    if request is not None and form_has_access_token(await request.body()):
        raise token_in_url_error()
    set_authenticated(scope, access_token)
    return access_token
