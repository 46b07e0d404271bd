"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for an API protected by okta-guard.

:class:`ProtectedResourceMetadata` is a small ASGI app that serves the JSON
document at ``/.well-known/oauth-protected-resource`` and computes the URL used in
the ``resource_metadata="..."`` attribute of 401 challenges.  The middleware uses
it by default; apps without the middleware mount it with :func:`metadata_route`.

The resource identifier defaults to the origin of the request plus the app's
``root_path`` (``scheme://host/mount``), which trusts the ``Host`` header:
configure ``resource=`` explicitly in production.  Without ``resource=`` the
document is served (and advertised) at ``/.well-known/oauth-protected-resource``
inside the app, i.e. below its mount path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from okta_guard.errors import ConfigurationError
from okta_guard.protect.routes import required_scopes

__all__ = ["WELL_KNOWN_PATH", "ProtectedResourceMetadata", "metadata_route"]

#: The RFC 9728 well-known path segment.
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def _origin(scope: Scope) -> str:
    scheme = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server")
        if server:
            host_name, port = server[0], server[1]
            default = {"http": 80, "https": 443}.get(scheme)
            host = host_name if port in (None, default) else f"{host_name}:{port}"
        else:
            host = "localhost"
    return f"{scheme}://{host}"


class ProtectedResourceMetadata:
    """Serve RFC 9728 metadata for this API (an ASGI app, usable as a route endpoint).

    Args:
        issuer: the authorization server (``authorization_servers = [issuer]``), or a
            sequence of them (a :class:`~okta_guard.MultiIssuerVerifier`'s ``issuers``).
        resource: the resource identifier (an absolute https URL); default: the
            request's origin.
        scopes_supported: the scopes to advertise; default: every scope required
            by the app's routes, found with :func:`okta_guard.protect.routes.required_scopes`.
        extra: more metadata fields (``resource_name``, ``resource_documentation``...).
        dpop_algorithms: the DPoP proof algorithms accepted (``None``: no DPoP); shown as
            ``dpop_signing_alg_values_supported``.
        dpop_required: only DPoP-bound tokens are accepted
            (``dpop_bound_access_tokens_required``).
    """

    def __init__(
        self,
        issuer: str | Sequence[str],
        *,
        resource: str | None = None,
        scopes_supported: Iterable[str] | None = None,
        extra: dict[str, Any] | None = None,
        dpop_algorithms: Sequence[str] | None = None,
        dpop_required: bool = False,
    ) -> None:
        if resource is not None:
            parts = urlsplit(resource)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                raise ConfigurationError(
                    f"The resource identifier {resource!r} must be an absolute http(s) URL "
                    "without a fragment (RFC 9728 §1.2)."
                )
        self.issuers: tuple[str, ...] = (issuer,) if isinstance(issuer, str) else tuple(issuer)
        if not self.issuers:
            raise ConfigurationError("Protected resource metadata needs at least one issuer.")
        self.issuer = self.issuers[0]
        self.resource = resource
        self.scopes_supported = None if scopes_supported is None else list(scopes_supported)
        self.extra = dict(extra or {})
        self.dpop_algorithms = list(dpop_algorithms) if dpop_algorithms else None
        self.dpop_required = bool(dpop_required and dpop_algorithms)
        self._scopes_cache: dict[int, list[str]] = {}
        if resource is not None:
            parts = urlsplit(resource)
            suffix = parts.path.rstrip("/")
            #: the path (inside the app) where the document is served
            self.path = WELL_KNOWN_PATH + suffix
            self._static_url: str | None = f"{parts.scheme}://{parts.netloc}{self.path}"
        else:
            self.path = WELL_KNOWN_PATH
            self._static_url = None

    def metadata_url(self, scope: Scope) -> str:
        """The absolute URL of the metadata document, for ``resource_metadata="..."``."""
        if self._static_url is not None:
            return self._static_url
        return _origin(scope) + str(scope.get("root_path", "")) + self.path

    def resource_for(self, scope: Scope) -> str:
        """The resource identifier for this request."""
        if self.resource is not None:
            return self.resource
        return _origin(scope) + str(scope.get("root_path", ""))

    def _scopes(self, app: ASGIApp | None) -> list[str]:
        if self.scopes_supported is not None:
            return self.scopes_supported
        if app is None:
            return []
        cached = self._scopes_cache.get(id(app))
        if cached is None:
            cached = self._scopes_cache[id(app)] = required_scopes(app)
        return cached

    def document(self, scope: Scope, app: ASGIApp | None = None) -> dict[str, Any]:
        """The metadata document for the app serving ``scope`` (or ``app``)."""
        doc: dict[str, Any] = {
            "resource": self.resource_for(scope),
            "authorization_servers": list(self.issuers),
            "scopes_supported": self._scopes(scope.get("app") or app),
            "bearer_methods_supported": ["header"],
        }
        if self.dpop_algorithms is not None:
            doc["dpop_signing_alg_values_supported"] = self.dpop_algorithms
            doc["dpop_bound_access_tokens_required"] = self.dpop_required
        doc.update(self.extra)
        return doc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``GET``/``HEAD`` with the JSON document, anything else with 405."""
        await self.serve(scope, receive, send)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, app: ASGIApp | None = None
    ) -> None:
        """Like ``__call__``; ``app`` is the app to audit when ``scope`` has none."""
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            body = b'{"error":"method_not_allowed"}'
            headers = [(b"allow", b"GET, HEAD"), (b"content-type", b"application/json")]
            status = 405
        else:
            body = json.dumps(self.document(scope, app), separators=(",", ":")).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"cache-control", b"public, max-age=3600"),
            ]
            status = 200
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def metadata_route(
    issuer: str | Sequence[str],
    *,
    resource: str | None = None,
    scopes_supported: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
    dpop_algorithms: Sequence[str] | None = None,
    dpop_required: bool = False,
) -> Route:
    """A Starlette/FastAPI ``Route`` serving the metadata (for apps without the middleware)."""
    endpoint = ProtectedResourceMetadata(
        issuer,
        resource=resource,
        scopes_supported=scopes_supported,
        extra=extra,
        dpop_algorithms=dpop_algorithms,
        dpop_required=dpop_required,
    )
    return Route(endpoint.path, endpoint, methods=["GET", "HEAD"], name="oauth_protected_resource")
