"""``OktaGuardMiddleware``: a pure ASGI middleware that requires a valid Okta access token.

For every ``http`` and ``websocket`` request it reads the token from
``Authorization: Bearer <token>`` only, verifies it with a verifier (normally a
:class:`~okta_guard.TokenVerifier`) and records the :class:`~okta_guard.AccessToken`
as ``scope["user"]`` (``request.user``), ``scope["auth"]`` (``request.auth``, a
read-only Starlette ``AuthCredentials`` holding the scopes) and
``scope["state"]["access_token"]``.  Everything else gets an RFC 6750 §3 answer (see
``docs/middleware.md``).  On ``lifespan`` startup it prewarms the verifier's key cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okta_guard.errors import ConfigurationError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.protect.authenticate import (
    request_credentials,
    set_anonymous,
    set_authenticated,
    set_middleware,
)
from okta_guard.protect.bearer import (
    form_has_access_token,
    query_has_access_token,
    read_form_prefix,
    replay,
    scan_headers,
    token_in_url_error,
)
from okta_guard.protect.challenge import MissingCredentialsError, default_realm, send_error
from okta_guard.protect.dpop import (
    authenticate_dpop,
    dpop_challenge,
    dpop_support,
    is_dpop_scheme,
)
from okta_guard.protect.introspect import issuers_of
from okta_guard.protect.metadata import ProtectedResourceMetadata
from okta_guard.protect.paths import PathMatcher, route_path
from okta_guard.protect.protocol import Verifier

__all__ = ["OktaGuardMiddleware", "PathMatcher", "Verifier"]

logger = logging.getLogger("okta_guard.protect.middleware")

_DPOP_ONLY = "Authentication required: send 'Authorization: DPoP <token>' with a DPoP proof."


class OktaGuardMiddleware:
    """Require a valid bearer access token on every HTTP and websocket request.

    Args:
        app: the ASGI app to protect.
        verifier: a :class:`~okta_guard.TokenVerifier` (or anything with
            ``verify_async``, ``prewarm_async`` and ``issuer``: the
            :class:`~okta_guard.protect.protocol.Verifier` protocol).
        exclude_paths: paths left unprotected (see :mod:`okta_guard.protect.paths`
            for the syntax and the plain-path rule); their requests get Starlette's
            ``UnauthenticatedUser`` and empty ``AuthCredentials``.
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
            (reads such bodies up to 1 MiB, then replays them to the app).
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
        self._exclusions = self.excluded if self.excluded.patterns else None
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
        # Optional synchronous hit check (the CachingVerifier protocol): a token seen before
        # then needs no coroutine.  Looked up on the type, so that a mock's made-up
        # attribute never counts as one.
        has_cache = callable(getattr(type(verifier), "verify_cached", None))
        self._verify_cached: Callable[[bytes], AccessToken | None] | None = (
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
        metadata = self.metadata
        if metadata is not None and kind == "http" and route_path(scope) == metadata.path:
            await metadata.serve(scope, receive, send, self.app)
            return
        if self._exclusions is not None and self._exclusions.excludes(scope):
            set_anonymous(scope, self, keep_user=True)
            await self.app(scope, receive, send)
            return
        try:
            authorization, form = scan_headers(scope["headers"])
            query = scope.get("query_string")
            if query and query_has_access_token(query):
                raise token_in_url_error()
            token: AccessToken | None = None
            if self._verify_cached is not None and authorization is not None and not form:
                # The whole header value: a cached verdict holds "Bearer <token>" as bytes.
                token = self._verify_cached(authorization)
            if token is None:
                token, receive = await self._authenticate(scope, receive)
        except OktaGuardError as exc:
            set_middleware(scope, self)
            await self._deny(scope, receive, send, exc)
            return
        if token is None:
            set_anonymous(scope, self)
        else:
            set_authenticated(scope, token, self)
        await self.app(scope, receive, send)

    async def _authenticate(
        self, scope: Scope, receive: Receive
    ) -> tuple[AccessToken | None, Receive]:
        """Everything but a cache hit: parse the credentials, check a form body, verify
        (a Bearer token, or a DPoP-bound token with its proof).

        Returns the token (``None``: anonymous) and the ``receive`` for the app.
        """
        token, authorization, form = request_credentials(scope)
        if form and scope["type"] == "http" and self.check_form_body:
            body, messages = await read_form_prefix(receive)
            receive = replay(messages, receive)
            if form_has_access_token(body):
                raise token_in_url_error()
        if token is not None:
            return await self.verifier.verify_async(token), receive
        if self.dpop is not None and authorization is not None and is_dpop_scheme(authorization):
            return await authenticate_dpop(scope, self.dpop, authorization), receive
        if not self.allow_anonymous:
            raise MissingCredentialsError(
                _DPOP_ONLY if self.dpop is not None and self.dpop.required else None
            )
        return None, receive

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
