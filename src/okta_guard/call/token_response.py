"""The token endpoint's answer, read: a service token, a failure to retry, or one to report.

:func:`classify_response` turns one answer of ``/v1/token`` into :class:`Success`,
:class:`Retry` or :class:`Fatal`; :func:`classify_failure` does the same for a request
that got no complete answer.  Pure functions of the bytes and the time, free of I/O;
the retry protocol around them is :func:`okta_guard.call.policy.token_fetch_flow`.
Every error names the cause and the fix (the Okta admin console path), with the
client id and Okta's own description, never a secret or a token.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from okta_guard._retry import retry_after_seconds
from okta_guard._sansio import HttpResponse
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "Fatal",
    "Outcome",
    "Retry",
    "Success",
    "classify_failure",
    "classify_response",
]

#: The longest lifetime a service token is trusted to have, in seconds: a longer
#: ``expires_in`` (Okta allows at most one day) is clamped to this.
MAX_TOKEN_LIFETIME = 86_400.0

# Errors that trying again cannot fix: the configuration (in code or in Okta) must change.
_FATAL_CODES = frozenset(
    {
        "invalid_client",
        "invalid_scope",
        "unauthorized_client",
        "access_denied",
        "invalid_request",
        "unsupported_grant_type",
        "invalid_grant",
        "invalid_dpop_proof",
        "use_dpop_nonce",
    }
)
_ADMIN_SCOPES = (
    "In the Okta admin console open Security > API > Authorization Servers > your server: "
    "add the scope under Scopes, then under Access Policies make sure a policy assigned to "
    "this app has a rule allowing the Client Credentials grant and this scope."
)
_FIXES: dict[str, str] = {
    "invalid_client": (
        "Check the client id and secret (Applications > your API Services app > General > "
        "Client Credentials), and that the app's client authentication setting matches the "
        "auth method in use; for private_key_jwt the app must hold the matching public key."
    ),
    "invalid_scope": (
        "A requested scope is not defined on this authorization server or not granted to this "
        "app ('openid' and other OpenID Connect scopes are not allowed for client "
        "credentials). " + _ADMIN_SCOPES
    ),
    "unauthorized_client": (
        "This app may not use the client credentials grant: it must be an API Services app "
        "(or have 'Client Credentials' ticked under General > Grant type)."
    ),
    "access_denied": "The authorization server's access policy denied the request. "
    + _ADMIN_SCOPES,
    "invalid_request": (
        "The token request was malformed; check the auth method, the scopes and the issuer."
    ),
    "unsupported_grant_type": (
        "The client credentials grant is not enabled: use an API Services app on a custom "
        "authorization server (https://{domain}/oauth2/{id})."
    ),
    "invalid_grant": "The grant was refused; check the app's grant types and access policy.",
    "use_dpop_nonce": (
        "Okta kept asking for a new DPoP nonce; check the clocks and that nothing between "
        "this service and Okta strips the DPoP-Nonce header."
    ),
    "invalid_dpop_proof": (
        "This app requires DPoP-bound tokens ('Require Demonstrating Proof of Possession "
        "(DPoP) header in token requests' on the app in Okta). Let TokenClient send DPoP "
        "proofs (dpop=None, the default, or dpop=True) instead of dpop=False, or switch that "
        "setting off on the app (Applications > your app > General)."
    ),
}
_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")
_TOKEN_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class Success:
    """The token endpoint issued a token."""

    token: ServiceToken
    expires_at: float


@dataclass(frozen=True)
class Retry:
    """A transient failure; ``wait`` is the delay the server asked for, if any."""

    error: TokenRequestError
    wait: float | None = None


@dataclass(frozen=True)
class Fatal:
    """A failure to report now.

    ``cooldown``: retrying cannot fix it, so callers fail fast for a while.
    ``retry_after``: the server asked us to stay away this many seconds (a 429
    whose wait exceeds ``max_retry_wait``); callers fail fast until then.
    """

    error: TokenRequestError
    cooldown: bool = True
    retry_after: float | None = None


Outcome = Success | Retry | Fatal


def _clean(text: object, limit: int = 200) -> str:
    """Make server-provided text safe for a one-line message."""
    if not isinstance(text, str):
        return ""
    return _PRINTABLE.sub(" ", text)[:limit].strip()


def _json_object(response: HttpResponse) -> dict[str, Any] | None:
    try:
        data = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def classify_failure(response: HttpResponse, token_url: str) -> Retry | Fatal:
    """Classify a token request that got no complete answer (``response.error`` set).

    A network error or a per-step timeout may be retried; a passed total deadline or a
    body over the size cap ends the fetch at once.
    """
    detail = _clean(response.detail) or response.error or "no details"
    if response.error == "deadline":
        return Fatal(
            TokenRequestError(
                f"The token endpoint {token_url} did not answer within the client's deadline "
                "(TokenClient deadline=...); try again later.",
                error="temporarily_unavailable",
                status_code=503,
                retryable=True,
                reason="deadline",
            ),
            cooldown=False,
        )
    if response.error in ("too_large", "encoding"):
        return Fatal(
            TokenRequestError(
                f"The token endpoint {token_url} sent an unusable body ({detail}). "
                "Check the issuer URL.",
                error="invalid_response",
                status_code=502,
                reason="invalid_token_response",
            ),
            cooldown=False,
        )
    return Retry(
        TokenRequestError(
            f"Could not reach the token endpoint {token_url} ({detail}). "
            "Check the network and the Okta domain.",
            error="temporarily_unavailable",
            status_code=503,
            retryable=True,
            reason="network_error",
        )
    )


def _parse_token(
    data: dict[str, Any], now: float, requested: Sequence[str]
) -> tuple[ServiceToken, float] | None:
    access_token = data.get("access_token")
    token_type = data.get("token_type", "Bearer")
    expires_in = data.get("expires_in", 3600)
    # Both go into an Authorization header: visible ASCII only, no spaces or line breaks.
    if not isinstance(access_token, str) or not _HEADER_SAFE.fullmatch(access_token):
        return None
    if not isinstance(token_type, str) or not _TOKEN_TYPE.fullmatch(token_type):
        return None
    if isinstance(expires_in, str) and expires_in.isascii() and expires_in.isdigit():
        # Compare as text first: int() of thousands of digits raises (or costs).
        expires_in = MAX_TOKEN_LIFETIME if len(expires_in) > 9 else int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        return None
    if isinstance(expires_in, float) and not math.isfinite(expires_in):
        return None
    if expires_in <= 0:
        return None
    # 1e12, 1e308 or 10**400: clamp before any arithmetic or datetime can overflow.
    expires_in = min(expires_in, MAX_TOKEN_LIFETIME)
    scope = data.get("scope")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset(requested)
    if token_type.lower() == "bearer":
        token_type = "Bearer"
    elif token_type.lower() == "dpop":
        token_type = "DPoP"
    expires_at = now + float(expires_in)
    utc = _dt.timezone.utc
    token = ServiceToken(
        access_token=access_token,
        token_type=token_type,
        expires_at=_dt.datetime.fromtimestamp(expires_at, tz=utc),
        scopes=scopes,
        issued_at=_dt.datetime.fromtimestamp(now, tz=utc),
    )
    return token, expires_at


def classify_response(
    response: HttpResponse,
    now: float,
    *,
    client_id: str,
    scopes: Sequence[str],
) -> Outcome:
    """Classify a token endpoint answer into :class:`Success`, :class:`Retry` or :class:`Fatal`.

    Error descriptions name the cause and the fix; they hold the client id and
    Okta's own description, never a secret or a token.
    """
    status = response.status
    data = _json_object(response)
    if status == 200:
        parsed = _parse_token(data, now, scopes) if data is not None else None
        if parsed is None:
            return Fatal(
                TokenRequestError(
                    "The token endpoint answered 200 without a usable access token "
                    "(expected JSON with access_token, token_type, expires_in). "
                    "Check the issuer URL.",
                    error="invalid_response",
                    status_code=502,
                    reason="invalid_token_response",
                ),
                cooldown=False,
            )
        return Success(*parsed)
    code = data.get("error") if data is not None else None
    description = _clean(data.get("error_description") or data.get("errorSummary")) if data else ""
    if description and description[-1] not in ".!?":
        description += "."
    said = f" Okta said: {description}" if description else ""
    if status == 429 or (status >= 500 and code not in _FATAL_CODES):
        wait = retry_after_seconds(response.headers, now, cap=86_400.0)
        what = "rate limited the token request" if status == 429 else f"answered {status}"
        return Retry(
            TokenRequestError(
                f"The token endpoint {what} for client {client_id!r}; try again later.{said}",
                error="temporarily_unavailable" if status == 429 else "server_error",
                status_code=503,
                retryable=True,
                reason="rate_limited" if status == 429 else "server_error",
            ),
            wait=wait,
        )
    if isinstance(code, str) and code in _FATAL_CODES:
        fix = _FIXES.get(code, "")
        scope_text = " ".join(scopes)
        return Fatal(
            TokenRequestError(
                f"Okta refused the token request for client {client_id!r} "
                f"(scopes {scope_text!r}) with {code}.{said} {fix}".rstrip(),
                error=code,
                status_code=status if 400 <= status < 500 else 400,
                reason=code,
            )
        )
    if status == 404:
        hint = "Check the Okta domain and the authorization server id in the issuer."
        return Fatal(
            TokenRequestError(
                f"The token endpoint was not found (404). {hint}",
                error="invalid_issuer",
                status_code=502,
                reason="token_endpoint_not_found",
            )
        )
    shown = _clean(code, 40) if isinstance(code, str) else f"HTTP {status}"
    return Fatal(
        TokenRequestError(
            f"The token endpoint refused the request for client {client_id!r} ({shown}).{said}",
            error="token_request_failed",
            status_code=502,
            reason="unexpected_response",
        ),
        cooldown=400 <= status < 500,
    )
