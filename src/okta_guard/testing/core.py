"""The sans-IO request handler of the mock issuer: faults, rate limits, routing, the log.

``IssuerCore.handle(MockRequest) -> MockResponse`` is the whole server.  The
httpx transport, the ASGI app and the loopback HTTP server are thin shells
around it, so all three behave identically.  The org's state lives in
:class:`~okta_guard.testing.state.OrgState`, which the endpoints use; this module
sits on top of both (``core -> endpoints -> state``).
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable

from .cors import CorsPolicy
from .endpoints import introspect, keys, metadata, revoke, token
from .faults import FaultPlan, rate_limited_response
from .ratelimit import RateLimiter
from .records import ENDPOINTS, MockRequest, MockResponse, RequestRecord, okta_api_error
from .state import OrgState

__all__ = ["IssuerCore"]

_SERVER_PATH = re.compile(r"^/oauth2/([^/]+)(/.*)$")
_ROOT_METADATA = re.compile(r"^/\.well-known/oauth-authorization-server/oauth2/([^/]+)$")
_APP_LIMITED = frozenset({"token", "introspect", "revoke"})
_ROUTES: dict[str, tuple[str, str]] = {
    "/.well-known/oauth-authorization-server": ("metadata", "GET"),
    "/.well-known/openid-configuration": ("metadata", "GET"),
    "/v1/keys": ("keys", "GET"),
    "/v1/token": ("token", "POST"),
    "/v1/introspect": ("introspect", "POST"),
    "/v1/revoke": ("revoke", "POST"),
}


class IssuerCore(OrgState):
    """All state of a mock Okta org and the request handler that serves it."""

    def __init__(
        self,
        *,
        base_url: str,
        clock: Callable[[], float] | None = None,
        jwks_max_age: int = 3_801_600,
        token_lifetime: int = 3600,
        log_limit: int | None = 100_000,
    ) -> None:
        super().__init__(
            base_url=base_url, clock=clock, jwks_max_age=jwks_max_age, token_lifetime=token_lifetime
        )
        self.cors = CorsPolicy()
        self.faults = FaultPlan()
        self.rate_limits = RateLimiter(self.clock)
        self.log: collections.deque[RequestRecord] = collections.deque(maxlen=log_limit)
        self.counts: collections.Counter[tuple[str, str | None]] = collections.Counter()

    def record(self, entry: RequestRecord) -> None:
        """Append to the request log (the oldest entries go beyond ``log_limit``) and count."""
        with self.lock:
            self.log.append(entry)
            self.counts[(entry.endpoint, entry.server_id)] += 1

    # -- the handler -------------------------------------------------------------------

    def route(self, path: str) -> tuple[str, str | None, str | None]:
        """Map a path to (endpoint name, server id, sub-path) — endpoint ``"other"`` if none."""
        root = _ROOT_METADATA.match(path)
        if root:
            return "metadata", root.group(1), "/.well-known/oauth-authorization-server"
        match = _SERVER_PATH.match(path)
        if not match:
            return "other", None, None
        server_id, rest = match.group(1), match.group(2)
        endpoint = _ROUTES.get(rest, ("other", ""))[0]
        return endpoint, server_id, rest

    def handle(self, request: MockRequest) -> MockResponse:
        """Serve one request: faults, rate limits, routing, the endpoint, the log."""
        if self.closed:
            raise RuntimeError("this MockIssuer is closed; create a new one")
        endpoint, server_id, rest = self.route(request.path)
        routed = endpoint in ENDPOINTS and server_id in self.servers
        if routed and self.cors.is_preflight(request):
            response = self.cors.preflight(request, endpoint)  # no fault, no rate limit
        else:
            response = self._serve(request, endpoint, server_id, rest)
            if routed:
                self.cors.decorate(request, response)
        form = request.form() if request.method == "POST" else {}
        self.record(
            RequestRecord(
                method=request.method,
                path=request.path,
                endpoint=endpoint,
                server_id=server_id,
                status=response.status,
                time=self.clock(),
                headers=dict(request.headers),
                form=form,
            )
        )
        return response

    def _serve(
        self, request: MockRequest, endpoint: str, server_id: str | None, rest: str | None
    ) -> MockResponse:
        if endpoint == "other" and (server_id is None or server_id not in self.servers):
            return _not_found(server_id, request.path)
        fault = self.faults.take(endpoint, server_id)
        if fault is not None:
            faulty = fault.response(endpoint, self.clock(), self.rate_limits.limit_for(endpoint))
            if faulty is not None:
                return fault.shape(faulty, endpoint)
        client_id = self.auth.claimed_client_id(request) if endpoint in _APP_LIMITED else None
        allowed, limit_headers = self.rate_limits.hit(endpoint, server_id, client_id)
        if not allowed:
            response = rate_limited_response(limit_headers)
        else:
            response = self._dispatch(request, endpoint, server_id, rest)
            response.headers.update(limit_headers)
        return fault.shape(response, endpoint) if fault is not None else response

    def _dispatch(
        self, request: MockRequest, endpoint: str, server_id: str | None, rest: str | None
    ) -> MockResponse:
        server = self.servers.get(server_id or "")
        if server is None:
            return _not_found(server_id, request.path)
        if endpoint == "other":
            return _not_found(None, request.path)
        expected = _ROUTES[rest or ""][1] if rest in _ROUTES else "GET"
        if request.method != expected and not (expected == "GET" and request.method == "HEAD"):
            return okta_api_error(
                405,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
                {"allow": expected},
            )
        if endpoint == "token":  # takes the lock itself: an inline hook may be slow
            with self.lock:
                server.apply_due_rotation(self.clock())
            return token(self, server, request)
        with self.lock:
            server.apply_due_rotation(self.clock())
            if endpoint == "metadata":
                openid = (rest or "").endswith("openid-configuration")
                return metadata(self, server, openid=openid)
            if endpoint == "keys":
                return keys(self, server)
            if endpoint == "introspect":
                return introspect(self, server, request)
            return revoke(self, server, request)


def _not_found(server_id: str | None, path: str) -> MockResponse:
    """Okta's 404: an unknown authorization server, or no such resource."""
    if server_id is not None:
        return okta_api_error(
            404, "E0000007", f"Not found: Resource not found: {server_id} (AuthorizationServer)"
        )
    return okta_api_error(404, "E0000007", f"Not found: Resource not found: {path} (Resource)")
