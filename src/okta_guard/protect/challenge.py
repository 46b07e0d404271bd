"""RFC 6750 §3 answers: the ``WWW-Authenticate`` challenge, the JSON body and the
websocket close code for an :class:`~okta_guard.errors.OktaGuardError`.

Shared by the middleware, :func:`~okta_guard.protect.scopes.require_scopes` and the FastAPI
dependency so that all three answer byte for byte the same way.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from okta_guard._grammar import NOT_ERROR_DESCRIPTION_CHAR, NOT_SCOPE_CHAR
from okta_guard.errors import (
    DPoPNonceError,
    InsufficientScopeError,
    InvalidTokenError,
    IssuerUnavailableError,
    OktaGuardError,
    ReplayStoreError,
)

if TYPE_CHECKING:
    from okta_guard.protect.dpop import DPoPChallenge

__all__ = [
    "MissingCredentialsError",
    "challenge",
    "default_realm",
    "error_body",
    "error_headers",
    "send_error",
    "websocket_close_code",
]

_NOT_DESCRIPTION_CHAR = NOT_ERROR_DESCRIPTION_CHAR
_NOT_SCOPE_CHAR = NOT_SCOPE_CHAR
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

WS_POLICY_VIOLATION = 1008
WS_INTERNAL_ERROR = 1011
WS_TRY_AGAIN_LATER = 1013


class MissingCredentialsError(InvalidTokenError):
    """401 without an error code: the request carries no bearer access token at all.

    RFC 6750 §3.1: a challenge to a request without any authentication information
    should carry no error code, so neither the ``WWW-Authenticate`` header nor the JSON
    body (``{"error_description": ...}`` only) has one.
    """

    default_description = (
        "Authentication required: send an access token as 'Authorization: Bearer <token>'."
    )

    def __init__(self, description: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(description, reason=reason or "missing_token")


def default_realm(verifier: object) -> str:
    """The realm used when none is configured: the verifier's (first) audience, or "api"."""
    audience = getattr(verifier, "audience", None)
    if isinstance(audience, (tuple, list)) and audience:
        audience = audience[0]
    return audience if isinstance(audience, str) and audience else "api"


def quote(value: str) -> str:
    """Return ``value`` as an HTTP quoted-string (quotes and backslashes escaped)."""
    value = _CONTROL.sub("", value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _description(text: str) -> str:
    return _NOT_DESCRIPTION_CHAR.sub("", text.replace('"', "'").replace("\\", "/"))


def _error_params(exc: OktaGuardError | None) -> list[str]:
    if exc is None or isinstance(exc, MissingCredentialsError):
        return []
    parts = [f"error={quote(exc.error)}", f'error_description="{_description(exc.description)}"']
    if isinstance(exc, InsufficientScopeError):
        scopes = " ".join(s for s in (_NOT_SCOPE_CHAR.sub("", s) for s in exc.required_scopes) if s)
        parts.append(f'scope="{scopes}"')
    return parts


def challenge(
    exc: OktaGuardError | None,
    realm: str,
    resource_metadata: str | None = None,
    dpop: DPoPChallenge | None = None,
) -> str | None:
    """Build the ``WWW-Authenticate`` value for ``exc`` (``None`` = no credentials).

    Returns ``None`` when no challenge belongs on the answer (503, 500).  With ``dpop``
    (a verifier accepting DPoP) a ``DPoP algs="..."`` challenge follows the Bearer one
    (RFC 9449 §7.1), or replaces it when only DPoP is accepted; the error goes on the
    scheme the request used.
    """
    if exc is not None and exc.status_code not in (400, 401, 403):
        return None
    metadata = (
        [f"resource_metadata={quote(resource_metadata)}"]
        if resource_metadata and (exc is None or exc.status_code in (401, 403))
        else []
    )
    if dpop is None:
        return ", ".join([f"Bearer realm={quote(realm)}", *_error_params(exc), *metadata])
    on_dpop = dpop.used or dpop.required
    challenges = []
    if not dpop.required:
        bearer = [f"Bearer realm={quote(realm)}", *([] if on_dpop else _error_params(exc))]
        challenges.append(", ".join([*bearer, *metadata]))
    algs = " ".join(a for a in dpop.algorithms if a.isalnum())
    params = [f"DPoP realm={quote(realm)}", *(_error_params(exc) if on_dpop else [])]
    params.append(f'algs="{algs}"')
    if dpop.required:
        params.extend(metadata)
    challenges.append(", ".join(params))
    return ", ".join(challenges)


def error_body(exc: OktaGuardError) -> bytes:
    """The small JSON body: ``{"error": ..., "error_description": ...}``.

    Without credentials there is no error code, as in the challenge (RFC 6750 §3.1):
    ``{"error_description": ...}`` only.
    """
    body = {"error_description": exc.description}
    if not isinstance(exc, MissingCredentialsError):
        body = {"error": exc.error, **body}
    return json.dumps(body, separators=(",", ":")).encode()


def error_headers(
    exc: OktaGuardError,
    realm: str,
    resource_metadata: str | None = None,
    dpop: DPoPChallenge | None = None,
) -> dict[str, str]:
    """Headers of the answer to ``exc``: ``WWW-Authenticate``, ``Retry-After``, ``DPoP-Nonce``."""
    headers: dict[str, str] = {"cache-control": "no-store"}
    value = challenge(exc, realm, resource_metadata, dpop)
    if value is not None:
        headers["www-authenticate"] = value
    if isinstance(exc, (IssuerUnavailableError, ReplayStoreError)):
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, DPoPNonceError):
        headers["dpop-nonce"] = exc.nonce
    return headers


def websocket_close_code(exc: OktaGuardError) -> int:
    """1013 (try again later) for 503, 1011 for server errors, else 1008."""
    if exc.status_code == 503:
        return WS_TRY_AGAIN_LATER
    if exc.status_code >= 500:
        return WS_INTERNAL_ERROR
    return WS_POLICY_VIOLATION


async def send_error(
    scope: Scope,
    receive: Receive,
    send: Send,
    exc: OktaGuardError,
    realm: str,
    resource_metadata: str | None = None,
    *,
    websocket_http_denial: bool = False,
    dpop: DPoPChallenge | None = None,
) -> None:
    """Answer ``exc`` on a raw ASGI connection (HTTP response or websocket close).

    Websockets are closed before accepting; with ``websocket_http_denial`` and a
    server offering the ``websocket.http.response`` extension, the handshake is
    refused with the full HTTP answer (status, ``WWW-Authenticate``, body) instead.
    """
    prefix = "http"
    if scope["type"] == "websocket":
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        extensions = scope.get("extensions") or {}
        if not (websocket_http_denial and "websocket.http.response" in extensions):
            # The server turns a close before accept into a refused handshake (HTTP 403).
            await send(
                {"type": "websocket.close", "code": websocket_close_code(exc), "reason": exc.error}
            )
            return
        prefix = "websocket.http"
    body = error_body(exc)
    headers = [
        (k.encode("latin-1"), v.encode("latin-1", "replace"))
        for k, v in error_headers(exc, realm, resource_metadata, dpop).items()
    ]
    headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": f"{prefix}.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": body})
