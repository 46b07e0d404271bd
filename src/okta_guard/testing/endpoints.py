"""The endpoints of a mock custom authorization server, as pure functions.

Each takes the core state, the authorization server and the request, and
returns a :class:`~okta_guard.testing.records.MockResponse` with Okta's
statuses, headers and bodies.
"""

from __future__ import annotations

import email.utils
from typing import Any

from .authserver import OIDC_SCOPES, AuthServer
from .clients import RegisteredClient
from .hooks import HookError
from .records import MockRequest, MockResponse, json_response, oauth_error
from .state import OrgState
from .tokens import read_okta_token

__all__ = ["introspect", "keys", "metadata", "revoke", "token"]

_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_TOKEN_HINTS = frozenset({"access_token", "refresh_token", "id_token", "device_secret"})


def metadata(core: OrgState, server: AuthServer, *, openid: bool) -> MockResponse:
    """``/.well-known/oauth-authorization-server`` and ``/.well-known/openid-configuration``."""
    doc = server.metadata(core.base_url, core.known_scopes(server), openid=openid)
    return json_response(200, doc, {"cache-control": "max-age=86400, must-revalidate"})


def keys(core: OrgState, server: AuthServer) -> MockResponse:
    """``/v1/keys``: the public JWKS with Okta's ``Cache-Control``/``Expires`` headers."""
    jwks = {"keys": [key.public_jwk() for key in server.keys.published()]}
    max_age = server.jwks_max_age(int(core.jwks_max_age), core.clock())
    expires = email.utils.formatdate(core.clock() + max_age, usegmt=True)
    headers = {"cache-control": f"max-age={max_age}, must-revalidate", "expires": expires}
    return json_response(200, jwks, headers)


def _form(request: MockRequest) -> dict[str, str] | MockResponse:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return oauth_error(
            400,
            "invalid_request",
            "The request must be sent with Content-Type application/x-www-form-urlencoded.",
        )
    return request.form()


def _authenticated(
    core: OrgState, server: AuthServer, request: MockRequest, endpoint: str
) -> tuple[dict[str, str], RegisteredClient] | MockResponse:
    form = _form(request)
    if isinstance(form, MockResponse):
        return form
    url = f"{server.issuer(core.base_url)}/v1/{endpoint}"
    client = core.auth.authenticate(request, form, url, core.clock())
    if isinstance(client, MockResponse):
        return client
    return form, client


def token(core: OrgState, server: AuthServer, request: MockRequest) -> MockResponse:
    """``/v1/token`` for the client credentials grant, with Okta's checks and errors.

    The checks run under the org's lock; a token inline hook is called outside it
    (it may take up to its timeout, or call the mock back).
    """
    with core.lock:
        checked = _token_claims(core, server, request)
    if isinstance(checked, MockResponse):
        return checked
    claims, lifetime, client_id = checked
    if core.token_hook is not None:
        context = {
            "issuer": server.issuer(core.base_url),
            "client_id": client_id,
            "now": core.clock(),
        }
        try:
            patched, new_lifetime = core.token_hook.transform(claims, lifetime, context)
        except HookError as error:
            return oauth_error(400, "server_error", error.summary)
        if new_lifetime != lifetime:
            patched["exp"] = int(patched["iat"]) + new_lifetime
        claims, lifetime = patched, new_lifetime
    body = {
        "token_type": "DPoP" if "cnf" in claims else "Bearer",
        "expires_in": lifetime,
        "access_token": core.sign(server.server_id, claims),
        "scope": " ".join(claims["scp"]),
    }
    return json_response(200, body, _NO_STORE)


def _token_claims(
    core: OrgState, server: AuthServer, request: MockRequest
) -> tuple[dict[str, Any], int, str] | MockResponse:
    """Okta's checks of a token request; the claims to issue (with the lifetime) if it passes."""
    auth = _authenticated(core, server, request, "token")
    if isinstance(auth, MockResponse):
        return auth
    form, client = auth
    grant = form.get("grant_type", "")
    if not grant:
        return oauth_error(400, "invalid_request", "The token request must specify a 'grant_type'.")
    if grant != "client_credentials":
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server. "
            "Configured grant types: [client_credentials].",
        )
    extra_claims: dict[str, Any] | None = None
    if client.dpop:
        checked = core.dpop.check(
            request.headers.get("dpop"), f"{server.issuer(core.base_url)}/v1/token", core.clock()
        )
        if isinstance(checked, MockResponse):
            return checked
        extra_claims = {"cnf": {"jkt": checked}}
    requested = list(dict.fromkeys(form.get("scope", "").split()))
    if not requested:
        return oauth_error(400, "invalid_scope", "No scopes were requested.")
    oidc = [s for s in requested if s in OIDC_SCOPES]
    if oidc:
        return oauth_error(
            400,
            "invalid_scope",
            "The following scopes are not allowed for the client credentials grant type: "
            + " ".join(oidc),
        )
    if not all(core.defines_scope(server, s) for s in requested):
        return oauth_error(
            400,
            "invalid_scope",
            "One or more scopes are not configured for the authorization server resource.",
        )
    if any(s not in client.scopes for s in requested):
        return oauth_error(
            403,
            "access_denied",
            "Policy evaluation failed for this request, please check the policy configurations.",
        )
    lifetime = core.token_lifetime
    claims = core.claims_for(
        server.server_id,
        scopes=requested,
        client_id=client.client_id,
        expires_in=lifetime,
        audience=None,
        claims=extra_claims,
    )
    return claims, lifetime, client.client_id


def _active_claims(core: OrgState, server: AuthServer, value: str) -> dict[str, Any] | None:
    claims = read_okta_token(value, server.keys, server.issuer(core.base_url))
    if claims is None:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= core.clock():
        return None
    if claims.get("jti") in server.revoked:
        return None
    return claims


def introspect(core: OrgState, server: AuthServer, request: MockRequest) -> MockResponse:
    """``/v1/introspect``: ``{"active": false}`` unless the token is ours, live and unrevoked."""
    auth = _authenticated(core, server, request, "introspect")
    if isinstance(auth, MockResponse):
        return auth
    form, _client = auth
    value = form.get("token")
    if not value:
        return oauth_error(400, "invalid_request", "The token parameter is required.")
    hint = form.get("token_type_hint")
    if hint is not None and hint not in _TOKEN_HINTS:
        return oauth_error(400, "unsupported_token_type", "The token_type_hint is not supported.")
    claims = _active_claims(core, server, value)
    if claims is None:
        return json_response(200, {"active": False}, _NO_STORE)
    scp = claims.get("scp")
    answer: dict[str, Any] = {
        "active": True,
        "scope": " ".join(scp) if isinstance(scp, list) else scp,
        "username": claims.get("sub"),
        "exp": claims.get("exp"),
        "iat": claims.get("iat"),
        "sub": claims.get("sub"),
        "aud": claims.get("aud"),
        "iss": claims.get("iss"),
        "jti": claims.get("jti"),
        "token_type": "DPoP" if isinstance(claims.get("cnf"), dict) else "Bearer",
        "client_id": claims.get("cid"),
    }
    if "uid" in claims:
        answer["uid"] = claims["uid"]
    return json_response(200, {k: v for k, v in answer.items() if v is not None}, _NO_STORE)


def revoke(core: OrgState, server: AuthServer, request: MockRequest) -> MockResponse:
    """``/v1/revoke``: 200 with an empty body, even for unknown tokens (RFC 7009)."""
    auth = _authenticated(core, server, request, "revoke")
    if isinstance(auth, MockResponse):
        return auth
    form, client = auth
    value = form.get("token")
    if not value:
        return oauth_error(400, "invalid_request", "The token parameter is required.")
    claims = _active_claims(core, server, value)
    if claims is not None and claims.get("cid") == client.client_id:
        jti = claims.get("jti")
        if isinstance(jti, str):
            server.revoked.add(jti)
    return MockResponse(200, dict(_NO_STORE), b"")
