"""CORS for the mock issuer, like Okta's Trusted Origins (Security > API > Trusted Origins).

Okta answers cross-origin requests to ``/v1/token``, ``/v1/keys``,
``/v1/introspect``, ``/v1/revoke`` and the discovery documents only for origins
listed as trusted (with CORS enabled), and answers their preflight ``OPTIONS``.
The mock does the same.  By default (``cors_origins=None``) it trusts every
loopback origin - ``http(s)://localhost``, ``127.0.0.0/8`` and ``[::1]`` on any
port - which is what a local Swagger UI or single-page app needs; a list trusts
exactly the origins in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from .records import MockRequest, MockResponse, json_response, okta_api_error

__all__ = ["CorsPolicy", "normalize_origin"]

_METHODS = {
    "token": "POST, OPTIONS",
    "introspect": "POST, OPTIONS",
    "revoke": "POST, OPTIONS",
    "keys": "GET, HEAD, OPTIONS",
    "metadata": "GET, HEAD, OPTIONS",
}
_ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-language",
        "content-type",
        "dpop",
        "x-okta-user-agent-extended",
        "x-requested-with",
    }
)
_EXPOSED = (
    "dpop-nonce, www-authenticate, x-okta-request-id, "
    "x-rate-limit-limit, x-rate-limit-remaining, x-rate-limit-reset"
)
_MAX_AGE = "600"


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a default port (``ValueError`` if not)."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"origin {origin!r} must look like https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"origin {origin!r} must not have a path, query or user")
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)):
        return f"{parts.scheme}://{shown}"
    return f"{parts.scheme}://{shown}:{port}"


def _is_loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CorsPolicy:
    """Which origins may call the mock from a browser, and the headers that say so."""

    def __init__(self, origins: Iterable[str] | None = None) -> None:
        self.loopback = origins is None
        self.origins = frozenset(normalize_origin(o) for o in (origins or ()))

    def allows(self, origin: str) -> bool:
        """Whether ``origin`` (an ``Origin`` header value) is a trusted origin."""
        try:
            normal = normalize_origin(origin)
        except ValueError:
            return False
        return normal in self.origins or (self.loopback and _is_loopback(normal))

    def is_preflight(self, request: MockRequest) -> bool:
        """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
        return (
            request.method == "OPTIONS"
            and "origin" in request.headers
            and "access-control-request-method" in request.headers
        )

    def preflight(self, request: MockRequest, endpoint: str) -> MockResponse:
        """Answer a preflight: 200 with the allowed methods and headers, or 403."""
        origin = request.headers["origin"]
        methods = _METHODS[endpoint]
        wanted = request.headers["access-control-request-method"].strip().upper()
        asked = [
            h.strip().lower()
            for h in request.headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        if not self.allows(origin) or wanted not in methods.split(", "):
            return okta_api_error(
                403, "E0000006", "You do not have permission to perform the requested action"
            )
        response = json_response(200, {})
        response.body = b""
        del response.headers["content-type"]
        response.headers.update(
            {
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "access-control-allow-methods": methods,
                "access-control-allow-headers": ", ".join(
                    h for h in asked if h in _ALLOWED_HEADERS
                ),
                "access-control-max-age": _MAX_AGE,
                "vary": "Origin",
            }
        )
        return response

    def decorate(self, request: MockRequest, response: MockResponse) -> None:
        """Add ``Access-Control-Allow-Origin`` (and friends) to an answer for a trusted origin."""
        origin = request.headers.get("origin")
        if origin is None or not self.allows(origin):
            return
        response.headers["access-control-allow-origin"] = origin
        response.headers["access-control-allow-credentials"] = "true"
        response.headers["access-control-expose-headers"] = _EXPOSED
        vary = response.headers.get("vary")
        response.headers["vary"] = f"{vary}, Origin" if vary else "Origin"
