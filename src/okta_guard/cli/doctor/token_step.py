"""Step 6: a service token for the configured credential, each refusal explained.

:func:`explain_token_error` is pure (Okta's error code -> what it means for this
credential, and the fix in the admin console); :func:`token_step` runs the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from okta_guard.cli.doctor.report import Step
from okta_guard.errors import OktaGuardError, TokenRequestError

if TYPE_CHECKING:
    from okta_guard.models import ServiceToken

__all__ = ["explain_token_error", "token_step"]

_POLICY = (
    "Security > API > Authorization Servers > your server > Access Policies: a policy "
    "assigned to this app needs a rule allowing the Client Credentials grant and the scopes"
)


def explain_token_error(
    error: str, *, client_id: str, scopes: Sequence[str], auth_method: str
) -> tuple[str, str]:
    """What Okta's token-endpoint ``error`` means here, and the fix: ``(summary, fix)``."""
    wanted = " ".join(scopes) or "(none)"
    if error == "invalid_client":
        return (
            f"invalid_client: Okta does not accept client {client_id!r} with {auth_method}",
            "Compare the client id and secret with Applications > your API Services app > "
            "General > Client Credentials, and its 'Client authentication' setting with "
            f"--auth-method (now {auth_method}); for private_key_jwt the app must hold the "
            "public key, for client_secret_jwt the secret must have at least 32 characters.",
        )
    if error == "invalid_scope":
        return (
            f"invalid_scope: a requested scope ({wanted}) is not defined on this server, or "
            "is an OpenID Connect scope",
            "Add the scope under Security > API > Authorization Servers > your server > "
            "Scopes (client credentials needs at least one custom scope; 'openid', 'profile' "
            f"... are refused), or request another with --scope. Then check {_POLICY}.",
        )
    if error == "access_denied":
        return (
            f"access_denied: no access policy rule grants {client_id!r} the scopes {wanted}",
            f"{_POLICY}.",
        )
    if error in ("invalid_dpop_proof", "use_dpop_nonce"):
        return (
            f"{error}: the app requires DPoP-bound tokens (Require Demonstrating Proof of "
            "Possession)",
            "Either turn 'Require Demonstrating Proof of Possession (DPoP) header in token "
            "requests' off under Applications > your app > General, or use a client that "
            "sends DPoP proofs and an API that accepts DPoP tokens.",
        )
    if error == "unauthorized_client":
        return (
            "unauthorized_client: this app may not use the client credentials grant",
            "Use an API Services app, or tick 'Client Credentials' under General > Grant type.",
        )
    if error == "unsupported_grant_type":
        return (
            "unsupported_grant_type: client credentials is not enabled here",
            "Use a custom authorization server (https://{domain}/oauth2/{id}) and an API "
            "Services app.",
        )
    return f"{error}: the token request failed", ""


def token_step(
    get_token: Callable[[], ServiceToken],
    *,
    client_id: str,
    scopes: Sequence[str],
    auth_method: str,
) -> tuple[Step, ServiceToken | None]:
    """Request a token; on refusal explain Okta's answer."""
    details = {"client_id": client_id, "scopes": list(scopes), "auth_method": auth_method}
    try:
        token = get_token()
    except TokenRequestError as exc:
        summary, fix = explain_token_error(
            exc.error, client_id=client_id, scopes=scopes, auth_method=auth_method
        )
        step = Step(
            "token",
            "fail",
            summary,
            fix or exc.description,
            {**details, "error": exc.error, "description": exc.description},
        )
        return step, None
    except OktaGuardError as exc:
        step = Step("token", "fail", f"{exc.error}: {exc.description}", "", details)
        return step, None
    granted = sorted(token.scopes)
    summary = (
        f"{token.token_type} token for {client_id!r} ({auth_method}), scopes "
        f"{' '.join(granted) or '(none)'}"
    )
    details = {**details, "token_type": token.token_type, "granted": granted}
    if token.token_type.lower() == "dpop":
        return (
            Step(
                "token",
                "warn",
                summary + "; the app requires DPoP (Require Demonstrating Proof of Possession)",
                "The token is bound to this run's DPoP key: the API must accept DPoP tokens and "
                "every caller must send proofs. If that is not intended, turn 'Require "
                "Demonstrating Proof of Possession (DPoP) header in token requests' off under "
                "Applications > your app > General.",
                details,
            ),
            token,
        )
    missing = sorted(set(scopes) - set(granted))
    if missing:
        return (
            Step(
                "token",
                "warn",
                summary,
                f"Okta granted fewer scopes than requested (missing {' '.join(missing)}).",
                details,
            ),
            token,
        )
    return Step("token", "ok", summary, details=details), token
