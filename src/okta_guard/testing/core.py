"""The sans-IO core of the mock issuer: state plus one pure request handler.

``IssuerCore.handle(MockRequest) -> MockResponse`` is the whole server.  The
httpx transport, the ASGI app and the loopback HTTP server are thin shells
around it, so all three behave identically.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .authserver import AuthServer
from .clients import ClientAuthenticator
from .dpop import DPoPValidator
from .endpoints import introspect, keys, metadata, revoke, token
from .faults import FaultPlan, rate_limited_response
from .keys import KeyRing, SigningKey
from .ratelimit import RateLimiter
from .records import MockRequest, MockResponse, RequestRecord, okta_api_error
from .tokens import build_claims, sign_compact

__all__ = ["IssuerCore"]

_SERVER_PATH = re.compile(r"^/oauth2/([^/]+)(/.*)$")
_ROOT_METADATA = re.compile(r"^/\.well-known/oauth-authorization-server/oauth2/([^/]+)$")
_ROUTES: dict[str, tuple[str, str]] = {
    "/.well-known/oauth-authorization-server": ("metadata", "GET"),
    "/.well-known/openid-configuration": ("metadata", "GET"),
    "/v1/keys": ("keys", "GET"),
    "/v1/token": ("token", "POST"),
    "/v1/introspect": ("introspect", "POST"),
    "/v1/revoke": ("revoke", "POST"),
}


class IssuerCore:
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
        self.base_url = base_url
        self.clock: Callable[[], float] = clock or time.time
        self.jwks_max_age = jwks_max_age
        self.token_lifetime = token_lifetime
        self.servers: dict[str, AuthServer] = {}
        self.auth = ClientAuthenticator()
        self.dpop = DPoPValidator()
        self.faults = FaultPlan()
        self.rate_limits = RateLimiter(self.clock)
        self.log: collections.deque[RequestRecord] = collections.deque(maxlen=log_limit)
        self.counts: collections.Counter[tuple[str, str | None]] = collections.Counter()
        self.lock = threading.RLock()
        self.closed = False

    # -- state -------------------------------------------------------------------------

    def add_server(
        self, server_id: str, audience: str, scopes: Iterable[str] = (), keep_expired: int = 1
    ) -> AuthServer:
        """Create authorization server ``server_id`` (its keys are leased now)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", server_id):
            raise ValueError(f"invalid authorization server id {server_id!r}")
        with self.lock:
            if server_id in self.servers:
                raise ValueError(f"authorization server {server_id!r} already exists")
            server = AuthServer(server_id, audience, KeyRing(keep_expired=keep_expired))
            server.scopes.update(scopes)
            self.servers[server_id] = server
            return server

    def server(self, server_id: str) -> AuthServer:
        """The authorization server ``server_id`` (``KeyError`` with a hint if unknown)."""
        try:
            return self.servers[server_id]
        except KeyError:
            known = ", ".join(sorted(self.servers))
            raise KeyError(f"no authorization server {server_id!r} (known: {known})") from None

    def issuer(self, server_id: str) -> str:
        """The issuer URL of ``server_id``."""
        return self.server(server_id).issuer(self.base_url)

    def known_scopes(self, server: AuthServer) -> set[str]:
        """Scopes defined on ``server``: its own plus those granted to registered clients."""
        scopes = set(server.scopes)
        for client in self.auth.clients.values():
            scopes.update(client.scopes)
        return scopes

    def mint(
        self,
        server_id: str,
        *,
        scopes: Iterable[str],
        client_id: str,
        expires_in: float,
        audience: str | list[str] | None,
        claims: Mapping[str, Any] | None,
        headers: Mapping[str, Any] | None,
        subject: str | None = None,
        issued_at: float | None = None,
        key: SigningKey | str | None = None,
    ) -> str:
        """Sign an access token of ``server_id`` (see ``MockIssuer.mint_token``)."""
        with self.lock:
            server = self.server(server_id)
            server.apply_due_rotation(self.clock())
            body = build_claims(
                issuer=server.issuer(self.base_url),
                audience=server.audience if audience is None else audience,
                client_id=client_id,
                scopes=scopes,
                now=self.clock() if issued_at is None else issued_at,
                expires_in=expires_in,
                subject=subject,
                extra=claims,
            )
            if isinstance(key, SigningKey):
                signer = key
            elif key is None or key == "active":
                signer = server.keys.active
            elif key == "next":
                signer = server.keys.next
            else:
                found = server.keys.get(key)
                if found is None:
                    raise KeyError(f"no key with kid {key!r} on server {server_id!r}")
                signer = found
            return sign_compact(signer, body, headers)

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
        response = self._serve(request, endpoint, server_id, rest)
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
        delay = 0.0
        fault = self.faults.take(endpoint, server_id)
        if fault is not None:
            faulty = fault.response(endpoint, self.clock(), self.rate_limits.limit_for(endpoint))
            if faulty is not None:
                faulty.delay, faulty.disconnect = fault.delay, fault.disconnect
                return faulty
            delay = fault.delay
        allowed, limit_headers = self.rate_limits.hit(endpoint, server_id)
        if not allowed:
            response = rate_limited_response(limit_headers)
        else:
            response = self._dispatch(request, endpoint, server_id, rest)
            response.headers.update(limit_headers)
        response.delay = max(response.delay, delay)
        return response

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
        with self.lock:
            server.apply_due_rotation(self.clock())
            if endpoint == "metadata":
                openid = (rest or "").endswith("openid-configuration")
                return metadata(self, server, openid=openid)
            if endpoint == "keys":
                return keys(self, server)
            if endpoint == "token":
                return token(self, server, request)
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
