"""FastAPI integration (the ``fastapi`` extra): a security dependency returning the token.

::

    okta = OktaAuth(verifier)
    app = FastAPI()
    okta.install(app)      # JSON error bodies, OpenAPI scopes, RFC 9728 metadata route

    @app.get("/orders")
    async def orders(token: AccessToken = Security(okta, scopes=["orders:read"])): ...

    @app.delete("/orders/{id}")
    async def delete(token: AccessToken = okta.require("orders:write")): ...

    @app.get("/reports")
    async def reports(token: AccessToken = okta.any_of("reports:read", "admin")): ...

    @app.get("/greeting")
    async def greeting(token: AccessToken | None = okta.optional()): ...

``OktaAuth`` is an OpenAPI OAuth2 security scheme (client-credentials flow, token
URL ``{issuer}/v1/token``), so every operation lists the scopes it requires and
Swagger UI's *Authorize* button works.  It answers like the middleware: 401/403
with ``WWW-Authenticate``, 400, 503 with ``Retry-After``; websockets are closed
with 1008 (1013 for 503) before accepting.  With ``OktaGuardMiddleware`` in front
it reuses the token the middleware verified; without it, it verifies itself.
This module imports fastapi; import it only when the extra is installed.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Security, WebSocketException
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from okta_guard.errors import OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.protect.audit import audit_routes
from okta_guard.protect.authenticate import authenticate_connection
from okta_guard.protect.challenge import (
    MissingCredentialsError,
    default_realm,
    error_body,
    error_headers,
    websocket_close_code,
)
from okta_guard.protect.dpop import dpop_support
from okta_guard.protect.introspect import INTROSPECT_ATTR, introspect_connection, issuers_of
from okta_guard.protect.metadata import ProtectedResourceMetadata, metadata_route
from okta_guard.protect.protocol import Verifier
from okta_guard.protect.requirements import SCOPES_ATTR, ScopeRequirement
from okta_guard.protect.scopes import connection_dpop_challenge

__all__ = ["OktaAuth", "OktaGuardHTTPException", "okta_guard_exception_handler"]


class OktaGuardHTTPException(HTTPException):
    """An ``HTTPException`` carrying the okta-guard error and its RFC 6750 headers."""

    def __init__(self, error: OktaGuardError, headers: dict[str, str]) -> None:
        super().__init__(error.status_code, detail=error.description, headers=headers)
        self.okta_error = error


async def okta_guard_exception_handler(request: Request, exc: Exception) -> Response:
    """Render :class:`OktaGuardHTTPException` as ``{"error", "error_description"}`` JSON."""
    assert isinstance(exc, OktaGuardHTTPException)
    return Response(
        error_body(exc.okta_error),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type="application/json",
    )


class OktaAuth(SecurityBase):
    """FastAPI security dependency: verifies the bearer token and the route's scopes.

    Use it as ``Security(okta, scopes=[...])`` (all scopes required), or through
    :meth:`require` / :meth:`any_of`.  It returns the :class:`~okta_guard.AccessToken`.

    Args:
        verifier: a :class:`~okta_guard.TokenVerifier`.
        scopes: scopes (with optional descriptions) offered by Swagger's *Authorize*
            dialog; :meth:`install` adds every scope used by the app's routes.
        token_url: the token endpoint (default ``{issuer}/v1/token``).
        scheme_name: the OpenAPI security scheme name.
        realm: ``realm`` of the challenges (default: the verifier's audience).
        resource_metadata: RFC 9728 URL for 401/403 challenges (default: the
            metadata route added by :meth:`install`, if any).
    """

    __okta_guard_dependency__ = True

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Mapping[str, str] | Iterable[str] | None = None,
        token_url: str | None = None,
        scheme_name: str = "okta",
        description: str | None = None,
        realm: str | None = None,
        resource_metadata: str | None = None,
    ) -> None:
        self.verifier = verifier
        self.realm = default_realm(verifier) if realm is None else realm
        self.resource_metadata = resource_metadata
        self._metadata: ProtectedResourceMetadata | None = None
        if isinstance(scopes, Mapping):
            offered = {str(k): str(v) for k, v in scopes.items()}
        else:
            offered = dict.fromkeys(scopes or (), "")
        issuers = issuers_of(verifier)
        default_description = (
            "Okta access token (client credentials) for this API, sent as a Bearer token."
        )

        def scheme(issuer: str, url: str | None, text: str | None) -> OAuth2Model:
            if text is None and len(issuers) > 1:
                text = f"{default_description} Authorization server: {issuer}"
            return OAuth2Model(
                flows=OAuthFlows(
                    clientCredentials=OAuthFlowClientCredentials(
                        tokenUrl=url or issuer + "/v1/token", scopes=offered
                    )
                ),
                description=text or default_description,
            )

        self.model = scheme(issuers[0], token_url, description)
        self.scheme_name = scheme_name
        #: One more OpenAPI scheme per further issuer (``MultiIssuerVerifier``), named
        #: ``{scheme_name}_2``, ``{scheme_name}_3``...; :meth:`install` publishes them.
        self.extra_schemes: dict[str, OAuth2Model] = {
            f"{scheme_name}_{n}": scheme(issuer, None, None)
            for n, issuer in enumerate(issuers[1:], start=2)
        }

    @property
    def offered_scopes(self) -> dict[str, str]:
        """The scopes listed in the OpenAPI client-credentials flow (live dict)."""
        flows = self.model.flows  # type: ignore[attr-defined]
        scopes: dict[str, str] = flows.clientCredentials.scopes
        return scopes

    def _offer(self, scopes: Iterable[str]) -> None:
        # No made-up description: Swagger UI prints the name and then the description,
        # so repeating the name there shows every scope twice.
        offered = self.offered_scopes
        for scope in scopes:
            offered.setdefault(scope, "")

    def _refuse(self, conn: HTTPConnection, exc: OktaGuardError) -> Exception:
        if isinstance(conn, WebSocket):
            return WebSocketException(code=websocket_close_code(exc), reason=exc.error)
        url = self.resource_metadata
        if url is None and self._metadata is not None:
            url = self._metadata.metadata_url(conn.scope)
        dpop = connection_dpop_challenge(conn, self.verifier, exc)
        return OktaGuardHTTPException(exc, error_headers(exc, self.realm, url or None, dpop))

    async def authenticate(
        self, conn: HTTPConnection, requirement: ScopeRequirement
    ) -> AccessToken:
        """Verify ``conn``'s token and ``requirement``; raise the FastAPI answer otherwise."""
        try:
            token = await authenticate_connection(conn, self.verifier)
            requirement.check(token)
        except OktaGuardError as exc:
            raise self._refuse(conn, exc) from None
        return token

    async def __call__(self, conn: HTTPConnection, security_scopes: SecurityScopes) -> AccessToken:
        """The dependency: the verified token, holding every scope in ``security_scopes``."""
        return await self.authenticate(conn, ScopeRequirement(tuple(security_scopes.scopes)))

    async def introspect(self, conn: HTTPConnection, token: AccessToken) -> AccessToken:
        """Ask the verifier whether ``token`` is still active; raise the FastAPI answer."""
        try:
            return await introspect_connection(conn, self.verifier, token)
        except OktaGuardError as exc:
            raise self._refuse(conn, exc) from None

    def require(self, *scopes: str, introspect: bool = False) -> Any:
        """``Security(self, scopes=scopes)``, also offering the scopes in OpenAPI.

        ``introspect=True`` also asks the issuer whether the token is still active
        (``TokenVerifier(..., introspection=...)``; a revoked token gets 401).
        """
        requirement = ScopeRequirement.build(scopes, None)
        self._offer(requirement.all_of)
        if not introspect:
            return Security(self, scopes=list(requirement.all_of))
        okta = self

        async def introspected(
            conn: HTTPConnection,
            token: AccessToken = Security(  # noqa: B008 - FastAPI's dependency syntax
                okta, scopes=list(requirement.all_of)
            ),
        ) -> AccessToken:
            return await okta.introspect(conn, token)

        introspected.__okta_guard_dependency__ = True  # type: ignore[attr-defined]
        setattr(introspected, INTROSPECT_ATTR, True)
        return Depends(introspected)

    def any_of(self, *scopes: str, introspect: bool = False) -> Any:
        """A dependency requiring one of ``scopes`` (OpenAPI: alternatives, after ``install``);
        ``introspect=True`` as for :meth:`require`."""
        requirement = ScopeRequirement.build((), scopes)
        self._offer(requirement.any_of)
        okta = self

        async def one_of(
            conn: HTTPConnection,
            token: AccessToken = Security(okta),  # noqa: B008 - FastAPI's dependency syntax
        ) -> AccessToken:
            checked = await okta.authenticate(conn, requirement)
            return await okta.introspect(conn, checked) if introspect else checked

        one_of.__okta_guard_dependency__ = True  # type: ignore[attr-defined]
        setattr(one_of, SCOPES_ATTR, requirement)
        if introspect:
            setattr(one_of, INTROSPECT_ATTR, True)
        return Depends(one_of)

    def optional(self) -> Any:
        """A dependency returning the token, or ``None`` when the request has no credentials.

        Malformed or invalid credentials are still refused (400/401/503).  The
        route decides what anonymous callers get; the audit lists it as unprotected.
        """
        okta = self

        async def maybe_token(conn: HTTPConnection) -> AccessToken | None:
            try:
                return await authenticate_connection(conn, okta.verifier)
            except MissingCredentialsError:
                return None
            except OktaGuardError as exc:
                raise okta._refuse(conn, exc) from None

        return Depends(maybe_token)

    def install(self, app: FastAPI, *, resource_metadata: bool = True, **metadata: Any) -> None:
        """Wire this scheme into ``app``.

        Registers the JSON error handler, fills the OpenAPI flow's scopes with every
        scope the routes require (at schema generation), lists :meth:`any_of`
        routes' scopes as alternative security requirements, and unless
        ``resource_metadata=False`` adds the RFC 9728 route (``metadata`` goes to
        :func:`~okta_guard.protect.metadata.metadata_route`).
        """
        app.add_exception_handler(OktaGuardHTTPException, okta_guard_exception_handler)
        if resource_metadata:
            support = dpop_support(self.verifier)
            if support is not None:
                metadata.setdefault("dpop_algorithms", support.algorithms)
                metadata.setdefault("dpop_required", support.required)
            route = metadata_route(issuers_of(self.verifier), **metadata)
            app.router.routes.append(route)
            endpoint = route.endpoint
            assert isinstance(endpoint, ProtectedResourceMetadata)
            self._metadata = endpoint
        original = app.openapi
        okta = self

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is not None:
                return original()
            infos = audit_routes(app)
            for info in infos:
                okta._offer((*info.scopes, *info.any_of))
            schema = original()
            paths = schema.get("paths", {})
            for info in infos:
                if not (info.any_of and info.source == "dependency"):
                    continue
                # "one of" = alternative security requirements (OpenAPI ORs the list items)
                alternatives = [{okta.scheme_name: [*info.scopes, s]} for s in info.any_of]
                for method in info.methods:
                    operation = paths.get(info.path, {}).get(method.lower())
                    if isinstance(operation, dict):
                        operation["security"] = alternatives
            if okta.extra_schemes:
                okta._publish_extra_schemes(schema)
            return schema

        app.openapi = openapi  # type: ignore[method-assign]

    def _publish_extra_schemes(self, schema: dict[str, Any]) -> None:
        """Add one security scheme per further issuer, each an alternative (OR) wherever
        this scheme is required."""
        from fastapi.encoders import jsonable_encoder

        components = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for name, model in self.extra_schemes.items():
            components[name] = jsonable_encoder(model, by_alias=True, exclude_none=True)
        for item in schema.get("paths", {}).values():
            for operation in item.values() if isinstance(item, dict) else ():
                security = operation.get("security") if isinstance(operation, dict) else None
                if not isinstance(security, list):
                    continue
                expanded: list[dict[str, Any]] = []
                for requirement in security:
                    expanded.append(requirement)
                    if isinstance(requirement, dict) and set(requirement) == {self.scheme_name}:
                        scopes = requirement[self.scheme_name]
                        expanded.extend({name: list(scopes)} for name in self.extra_schemes)
                operation["security"] = expanded
