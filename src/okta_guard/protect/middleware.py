"""``OktaGuardMiddleware``: a pure ASGI middleware that requires a valid Okta access token.

For every ``http`` and ``websocket`` request it reads the token from
``Authorization: Bearer <token>`` only, verifies it with a verifier (normally a
:class:`~okta_guard.TokenVerifier`) and records the :class:`~okta_guard.AccessToken`
as ``scope["user"]`` (``request.user``), ``scope["auth"]`` (``request.auth``, a
Starlette ``AuthCredentials`` holding the scopes) and ``scope["state"]["access_token"]``.
Everything else gets an RFC 6750 §3 answer (see ``docs/middleware.md``).  On
``lifespan`` startup it prewarms the verifier's key cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okta_guard.errors import ConfigurationError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.protect.bearer import (
    MIDDLEWARE_KEY,
    VERIFIER_KEY,
    Verifier,
    bearer_token,
    credentials_for,
    default_realm,
    form_has_access_token,
    query_has_access_token,
    scan_headers,
    set_anonymous,
    set_authenticated,
    token_in_url_error,
)
from okta_guard.protect.challenge import MissingCredentialsError, send_error
from okta_guard.protect.dpop import (
    authenticate_dpop,
    dpop_challenge,
    dpop_support,
    is_dpop_scheme,
)
from okta_guard.protect.introspect import issuers_of
from okta_guard.protect.metadata import ProtectedResourceMetadata

__all__ = ["OktaGuardMiddleware", "PathMatcher", "Verifier"]

logger = logging.getLogger("okta_guard.protect.middleware")

_FORM_TYPE = b"application/x-www-form-urlencoded"
_DPOP_ONLY = "Authentication required: send 'Authorization: DPoP <token>' with a DPoP proof."
#: Largest URL-encoded form body buffered to look for a smuggled ``access_token``.
MAX_FORM_SCAN = 1 << 20


class PathMatcher:
    """Match request paths against ``exclude_paths`` patterns.

    * ``"/health"``: exactly this path;
    * ``"/docs*"``: any path starting with ``/docs`` (``/docs``, ``/docs/x``, ``/docsx``);
    * ``"/public/"``: ``/public`` itself and everything below ``/public/``.

    Paths are matched inside the app (after ``root_path``), case-sensitively.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.startswith("/"):
                raise ConfigurationError(
                    f"exclude_paths entry {pattern!r} must be a path starting with '/'."
                )
            if pattern.endswith("*"):
                prefixes.append(pattern[:-1])
            elif pattern.endswith("/") and pattern != "/":
                prefixes.append(pattern)
                exact.add(pattern[:-1])
            else:
                exact.add(pattern)
        self.patterns = tuple(patterns)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)

    def __call__(self, path: str) -> bool:
        """Tell whether ``path`` is excluded."""
        return path in self.exact or (bool(self.prefixes) and path.startswith(self.prefixes))


def route_path(scope: Scope) -> str:
    """The request path inside the app (``root_path`` removed, as Starlette routes it)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest:
            return "/"
        if rest[0] == "/":
            return rest
    return path


class OktaGuardMiddleware:
    """Require a valid bearer access token on every HTTP and websocket request.

    Args:
        app: the ASGI app to protect.
        verifier: a :class:`~okta_guard.TokenVerifier` (or anything with
            ``verify_async``, ``prewarm_async`` and ``issuer``).
        exclude_paths: paths left unprotected (see :class:`PathMatcher` for the syntax).
        allow_anonymous: let requests without credentials through as
            ``UnauthenticatedUser`` and leave the decision to the routes (e.g.
            :func:`~okta_guard.require_scopes`); bad credentials are still refused.
        realm: the ``realm`` of the challenges (default: the verifier's audience).
        resource_metadata: ``True`` to serve RFC 9728 metadata and advertise it in
            401/403 challenges; a URL string to only advertise that URL; ``None`` or
            ``False`` for neither.
        resource: the RFC 9728 resource identifier (default: the request's origin).
        scopes_supported: scopes to advertise (default: found on the app's routes).
        strict_startup: fail the ASGI startup if the key cache cannot be prewarmed.
        prewarm: prewarm the key cache at startup at all.
        check_form_body: also refuse ``access_token`` in URL-encoded form bodies
            (buffers such bodies up to 1 MiB, then replays them to the app).
        websocket_http_denial: refuse websocket handshakes with the full HTTP
            answer (401/403 + ``WWW-Authenticate``) when the server supports the
            ASGI ``websocket.http.response`` extension, instead of closing (1008/1013).
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        exclude_paths: Iterable[str] = (),
        allow_anonymous: bool = False,
        realm: str | None = None,
        resource_metadata: bool | str | None = True,
        resource: str | None = None,
        scopes_supported: Iterable[str] | None = None,
        strict_startup: bool = False,
        prewarm: bool = True,
        check_form_body: bool = True,
        websocket_http_denial: bool = False,
    ) -> None:
        if verifier is None or not callable(getattr(verifier, "verify_async", None)):
            raise ConfigurationError(
                "OktaGuardMiddleware needs verifier=TokenVerifier(issuer, audience)."
            )
        self.app = app
        self.verifier = verifier
        self.excluded = PathMatcher(exclude_paths)
        self._excluded_exact = self.excluded.exact
        self._excluded_prefixes = self.excluded.prefixes
        self.allow_anonymous = allow_anonymous
        self.realm = default_realm(verifier) if realm is None else realm
        self.strict_startup = strict_startup
        self.prewarm = prewarm
        self.check_form_body = check_form_body
        self.websocket_http_denial = websocket_http_denial
        self.metadata: ProtectedResourceMetadata | None = None
        self._metadata_url: str | None = None
        # DPoP (RFC 9449): only requests with the DPoP scheme ever take that branch.
        self.dpop = dpop_support(verifier)
        if resource_metadata is True:
            self.metadata = ProtectedResourceMetadata(
                issuers_of(verifier),
                resource=resource,
                scopes_supported=scopes_supported,
                dpop_algorithms=self.dpop.algorithms if self.dpop is not None else None,
                dpop_required=self.dpop is not None and self.dpop.required,
            )
        elif isinstance(resource_metadata, str) and resource_metadata:
            self._metadata_url = resource_metadata
        elif resource_metadata not in (None, False):
            raise ConfigurationError("resource_metadata must be True, False, None or a URL.")
        self._metadata_path = self.metadata.path if self.metadata is not None else None
        # Optional synchronous cache-hit check (TokenVerifier.verify_cached): the hot path
        # of a repeated token then needs no coroutine at all.
        # Looked up on the type, so that a mock's made-up attribute never counts as one.
        has_cache = callable(getattr(type(verifier), "verify_cached", None))
        self._verify_cached: Callable[[str], AccessToken | None] | None = (
            getattr(verifier, "verify_cached") if has_cache else None  # noqa: B009
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan" and self.prewarm:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        if path == self._metadata_path and kind == "http" and self.metadata is not None:
            await self.metadata.serve(scope, receive, send, self.app)
            return
        scope[VERIFIER_KEY] = self.verifier
        scope[MIDDLEWARE_KEY] = self
        if path in self._excluded_exact or (
            self._excluded_prefixes and path.startswith(self._excluded_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        try:
            # Inline header scan (hot path); same rules as _credentials.scan_headers.
            authorization: bytes | None = None
            form = False
            for name, value in scope["headers"]:
                if name == b"authorization":
                    if authorization is not None:
                        scan_headers(scope["headers"])  # raises the duplicate error
                    authorization = value
                elif name == b"content-type" and value[:33].lower() == _FORM_TYPE:
                    form = True
            token: AccessToken | None = None
            if (
                self._verify_cached is not None
                and authorization is not None
                and authorization[:7] == b"Bearer "
                and not form
            ):
                # Steady state: a token the verifier accepted before.  A cached token is
                # plain base64url, so bearer_token() would have returned exactly this string
                # (a non-ASCII byte decodes to a non-ASCII character and simply misses).
                token = self._verify_cached(authorization[7:].decode("latin-1"))
            if token is None:
                raw_token = bearer_token(authorization)
            query = scope.get("query_string")
            if query and query_has_access_token(query):
                raise token_in_url_error()
            if token is not None:
                # set_authenticated(), inlined for the hot path.
                scope["user"] = token
                scope["auth"] = credentials_for(token)
                state = scope.get("state")
                if state is None:
                    scope["state"] = {"access_token": token}
                else:
                    state["access_token"] = token
            else:
                if form and kind == "http" and self.check_form_body:
                    receive = await self._scan_form(receive)
                if raw_token is None:
                    if self.dpop is not None and is_dpop_scheme(authorization):
                        assert authorization is not None
                        token = await authenticate_dpop(scope, self.dpop, authorization)
                        set_authenticated(scope, token)
                    elif not self.allow_anonymous:
                        raise MissingCredentialsError(
                            _DPOP_ONLY if self.dpop is not None and self.dpop.required else None
                        )
                    else:
                        set_anonymous(scope)
                else:
                    set_authenticated(scope, await self.verifier.verify_async(raw_token))
        except OktaGuardError as exc:
            await self._deny(scope, receive, send, exc)
            return
        await self.app(scope, receive, send)

    async def _deny(self, scope: Scope, receive: Receive, send: Send, exc: OktaGuardError) -> None:
        logger.debug(
            "okta-guard refused %s %r: %s (%s)",
            scope.get("method", "WEBSOCKET"),
            scope["path"],
            exc.reason,
            exc.status_code,
        )
        dpop = None
        if self.dpop is not None:
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            dpop = dpop_challenge(self.dpop, authorization, exc)
        await send_error(
            scope,
            receive,
            send,
            exc,
            self.realm,
            self.metadata_url(scope),
            websocket_http_denial=self.websocket_http_denial,
            dpop=dpop,
        )

    def metadata_url(self, scope: Scope) -> str | None:
        """The RFC 9728 metadata URL advertised in challenges (``None`` if disabled)."""
        if self.metadata is not None:
            return self.metadata.metadata_url(scope)
        return self._metadata_url

    async def _scan_form(self, receive: Receive) -> Receive:
        """Buffer a URL-encoded body, refuse it if it has ``access_token``, then replay it."""
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body", False) or len(body) > MAX_FORM_SCAN:
                break
        if form_has_access_token(bytes(body)):
            raise token_in_url_error()
        pending = iter(messages)

        async def replay() -> Message:
            for message in pending:
                return message
            return await receive()

        return replay

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_and_prewarm() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._prewarm(send)
            return message

        await self.app(scope, receive_and_prewarm, send)

    async def _prewarm(self, send: Send) -> None:
        """Prewarm the key cache; on failure log, or in strict mode fail the startup."""
        try:
            await self.verifier.prewarm_async()
        except Exception as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            if not self.strict_startup:
                logger.warning(
                    "okta-guard could not prewarm the key cache of %s (%s); "
                    "keys will be fetched on the first request.",
                    self.verifier.issuer,
                    reason,
                )
                return
            message = (
                f"okta-guard: cannot reach the issuer {self.verifier.issuer} at startup "
                f"({reason}) and strict_startup=True"
            )
            logger.error("%s", message)
            await send({"type": "lifespan.startup.failed", "message": message})
            raise

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"issuer": self.verifier.issuer}
        if self.excluded.patterns:
            extra["exclude_paths"] = self.excluded.patterns
        args = ", ".join(f"{k}={v!r}" for k, v in extra.items())
        return f"OktaGuardMiddleware({args})"
