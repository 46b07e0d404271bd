"""Step 7: the token verified like the API would, with the configured audience and issuer.

A refusal names the values that differ (the token's ``aud``/``iss`` against the
configuration), read from the token *after* the verifier refused it and only to
explain the verdict.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from okta_guard.cli.doctor.report import Step
from okta_guard.errors import InvalidTokenError, OktaGuardError

if TYPE_CHECKING:
    from okta_guard.models import AccessToken

__all__ = ["unverified_claims", "verify_step"]


def unverified_claims(token: str) -> dict[str, Any]:
    """The token's claims without any check (only to explain a verdict); ``{}`` if unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    segment = parts[1]
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _audiences(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def verify_step(
    verify: Callable[[str], AccessToken],
    token: str,
    *,
    issuer: str,
    audience: str,
    bound: bool = False,
) -> tuple[Step, AccessToken | None]:
    """Verify ``token``; on refusal say why, naming both values where they differ."""
    try:
        access = verify(token)
    except InvalidTokenError as exc:
        claims = unverified_claims(token)
        details: dict[str, Any] = {"reason": exc.reason, "audience": audience, "issuer": issuer}
        dpop = "dpop" in exc.reason
        if exc.reason == "wrong_audience" or (
            dpop and audience not in _audiences(claims.get("aud"))
        ):
            found = _audiences(claims.get("aud"))
            details["token_audience"] = found
            shown = " ".join(repr(a) for a in found) or "(none)"
            return (
                Step(
                    "verify",
                    "fail",
                    f"audience mismatch: the token's aud is {shown}, the API expects {audience!r}",
                    f"Set the API's audience (--audience / OKTA_AUDIENCE) to the Audience of "
                    "the authorization server (Security > API > Authorization Servers), "
                    f"here {found[0]!r}."
                    if found
                    else "Check the server's Audience setting.",
                    details,
                ),
                None,
            )
        if exc.reason == "wrong_issuer":
            found_iss = claims.get("iss")
            details["token_issuer"] = found_iss
            return (
                Step(
                    "verify",
                    "fail",
                    f"issuer mismatch: the token's iss is {found_iss!r}, the API expects "
                    f"{issuer!r}",
                    "Configure the issuer exactly as the token carries it.",
                    details,
                ),
                None,
            )
        if dpop:
            return (
                Step(
                    "verify",
                    "warn",
                    "the token is DPoP-bound (cnf.jkt): an API accepts it only with a DPoP "
                    f"proof; its audience {audience!r} matches",
                    "The API must accept DPoP tokens, and callers must send a fresh proof with "
                    "each request ('okta-guard request' does).",
                    details,
                ),
                None,
            )
        return (
            Step("verify", "fail", f"refused ({exc.reason}): {exc.description}", "", details),
            None,
        )
    except OktaGuardError as exc:
        step = Step("verify", "fail", f"{exc.error}: {exc.description}", "", {"reason": exc.reason})
        return step, None
    proof = " and a DPoP proof (cnf.jkt binding)" if bound else ""
    summary = (
        f"valid for audience {audience!r}: signature, issuer, expiry{proof} checked; "
        f"client {access.client_id or '-'}"
    )
    return Step("verify", "ok", summary, details={"audience": audience, "issuer": issuer}), access
