"""Per-route revocation checks: introspect the request's token after local verification.

Routes that opt in (``require_scopes(..., introspect=True)``, FastAPI's
``okta.require(..., introspect=True)``) ask the verifier's ``introspect_async`` once
the token has passed local verification and the scope check; other routes stay
on the local (cached) verdict.  The verifier decides (cache, single flight, outage
policy); this module only finds the raw token and the verifier.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import HTTPConnection

from okta_guard.errors import ConfigurationError
from okta_guard.models import AccessToken
from okta_guard.protect.authenticate import find_verifier, request_credentials
from okta_guard.protect.challenge import MissingCredentialsError
from okta_guard.protect.dpop import dpop_token, is_dpop_scheme
from okta_guard.protect.protocol import Verifier

__all__ = ["INTROSPECT_ATTR", "introspect_connection", "issuers_of"]

#: Attribute set to ``True`` on endpoints whose tokens are introspected (for the audit).
INTROSPECT_ATTR = "__okta_guard_introspect__"


def issuers_of(verifier: object) -> tuple[str, ...]:
    """Every issuer a verifier accepts: its ``issuers`` (several), else its ``issuer``."""
    many = getattr(verifier, "issuers", None)
    if isinstance(many, Sequence) and not isinstance(many, str) and many:
        return tuple(str(i) for i in many)
    return (str(getattr(verifier, "issuer", "")),)


async def introspect_connection(
    conn: HTTPConnection, explicit: Verifier | None, token: AccessToken
) -> AccessToken:
    """Ask the verifier whether the request's (verified) ``token`` is still active.

    Raises the verifier's :class:`~okta_guard.errors.OktaGuardError` (401 ``revoked``,
    503 when no answer can be had), or ``ConfigurationError`` when the verifier
    cannot introspect.
    """
    verifier = find_verifier(conn.scope, explicit)
    introspect = getattr(verifier, "introspect_async", None)
    if not callable(introspect):
        raise ConfigurationError(
            "This route requires introspection but its verifier cannot introspect: use a "
            "TokenVerifier(..., introspection=IntrospectionClient(...))."
        )
    raw, authorization, _form = request_credentials(conn.scope)
    if raw is None and authorization is not None and is_dpop_scheme(authorization):
        # A DPoP-bound token (its proof was checked when the token was verified).
        raw = dpop_token(authorization)
    if raw is None:
        raise MissingCredentialsError()
    result: AccessToken = await introspect(raw, token)
    return result
