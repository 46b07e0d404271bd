"""Plain data of the mock issuer: requests, responses, the request log, Okta error bodies.

These are the values exchanged between the sans-IO handler and its shells (the
httpx transport, the ASGI app and the loopback server).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "ENDPOINTS",
    "MAX_REQUEST_BODY",
    "MockRequest",
    "MockResponse",
    "RequestRecord",
    "check_endpoint",
    "json_response",
    "oauth_error",
    "okta_api_error",
    "too_large",
]

MAX_REQUEST_BODY = 1 << 20
"""The largest request body any shell of the mock accepts (1 MiB); larger ones get 413."""

ENDPOINTS = ("metadata", "keys", "token", "introspect", "revoke")
"""Endpoint names used by ``fail_next``, outages, rate limits and the request log."""


def check_endpoint(endpoint: str) -> str:
    """Validate an endpoint name (``"*"`` means every endpoint)."""
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)} or '*'")
    return endpoint


_COMPACT = json.JSONEncoder(separators=(",", ":"))
_SECRET_HEADERS = frozenset({"authorization", "cookie", "dpop"})
_SECRET_FIELDS = frozenset({"client_secret", "client_assertion", "token", "assertion"})


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _headers(items: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({k.lower(): v for k, v in items.items()})


@dataclass(frozen=True)
class MockRequest:
    """One HTTP request as the handler sees it (header names lower-case)."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    query: str = ""
    _form: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> MockRequest:
        """Build from a request target (path plus optional ``?query``)."""
        path, _, query = target.partition("?")
        return cls(method.upper(), path, _headers(headers), body, query)

    def form(self) -> dict[str, str]:
        """The urlencoded body as a new dict (the last value wins for repeated names).

        The body is parsed once per request, however many steps read the form.
        """
        parsed = self._form
        if parsed is None:
            try:
                parsed = dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                parsed = {}
            object.__setattr__(self, "_form", parsed)  # a cache, not a change of the request
        return dict(parsed)


@dataclass
class MockResponse:
    """One HTTP response; ``delay`` (seconds) is applied by the shell before sending.

    ``disconnect`` asks the shell to drop the connection instead of answering.
    ``drip`` (seconds) asks it to send the headers (with the full ``Content-Length``)
    and then the body one byte every ``drip`` seconds; ``stall`` to send the headers
    and then nothing until the client gives up.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    disconnect: bool = False
    drip: float = 0.0
    stall: bool = False

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RequestRecord:
    """One entry of ``MockIssuer.requests``.

    ``endpoint`` is one of :data:`ENDPOINTS` (or ``"other"`` for unknown paths);
    ``server_id`` is the authorization server id in the path (``None`` if none).
    ``headers`` and ``form`` hold secrets (client secrets, assertions, tokens), so
    they are left out of the ``repr``.  ``secret_free_form`` masks them.
    """

    method: str
    path: str
    endpoint: str
    server_id: str | None
    status: int
    time: float
    headers: Mapping[str, str] = field(repr=False, compare=False)
    form: Mapping[str, str] = field(repr=False, compare=False)

    @property
    def secret_free_form(self) -> dict[str, str]:
        """The form with secret values replaced by ``"***"``."""
        return {k: ("***" if k in _SECRET_FIELDS else v) for k, v in self.form.items()}

    @property
    def dpop(self) -> dict[str, Any] | None:
        """The ``DPoP`` proof of the request, decoded but *not* verified (``None`` if none).

        ``{"alg", "jwk_kty", "jti", "htm", "htu", "iat", "nonce", "ath"}`` (absent claims
        are ``None``): enough to see the nonce dance in the log; the proof is single use.
        """
        proof = self.headers.get("dpop")
        if not proof:
            return None
        try:
            head, body = (json.loads(_b64decode(part)) for part in proof.split(".")[:2])
        except (ValueError, TypeError):
            return {"malformed": True}
        if not isinstance(head, dict) or not isinstance(body, dict):
            return {"malformed": True}
        jwk = head.get("jwk")
        summary: dict[str, Any] = {
            "alg": head.get("alg"),
            "jwk_kty": jwk.get("kty") if isinstance(jwk, dict) else None,
        }
        summary.update({k: body.get(k) for k in ("jti", "htm", "htu", "iat", "nonce", "ath")})
        return summary

    @property
    def auth_scheme(self) -> str | None:
        """The scheme of the ``Authorization`` header (``"Basic"`` ...), if any."""
        value = self.headers.get("authorization")
        return value.split(" ", 1)[0] if value else None


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> MockResponse:
    """A JSON response with Okta's usual headers."""
    base = {
        "content-type": "application/json",
        "x-okta-request-id": secrets.token_urlsafe(18),
    }
    base.update({k.lower(): v for k, v in (headers or {}).items()})
    return MockResponse(status, base, _COMPACT.encode(payload).encode())


def oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> MockResponse:
    """An OAuth error like Okta's ``/v1/*`` endpoints send (``error``, ``error_description``)."""
    extra = {"cache-control": "no-store", "pragma": "no-cache", **(headers or {})}
    if status == 401:
        extra.setdefault("www-authenticate", 'Basic realm="Okta"')
    return json_response(status, {"error": error, "error_description": description}, extra)


def too_large() -> MockResponse:
    """The 413 answer to a request body over :data:`MAX_REQUEST_BODY`."""
    return okta_api_error(
        413, "E0000003", f"The request body is larger than {MAX_REQUEST_BODY} bytes."
    )


def okta_api_error(
    status: int, code: str, summary: str, headers: Mapping[str, str] | None = None
) -> MockResponse:
    """An Okta API error body (``errorCode`` E0000..., ``errorSummary``, ``errorId``)."""
    payload = {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + secrets.token_urlsafe(16),
        "errorCauses": [],
    }
    return json_response(status, payload, headers)
