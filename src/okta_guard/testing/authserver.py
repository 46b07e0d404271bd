"""One Okta custom authorization server inside the mock: id, audience, keys, scopes, metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .keys import KeyRing

__all__ = ["OIDC_SCOPES", "AuthServer"]

OIDC_SCOPES = frozenset(
    {"openid", "profile", "email", "address", "phone", "offline_access", "device_sso"}
)
"""OpenID Connect scopes: listed in metadata, rejected for client credentials."""

_AUTH_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
]
_SIGNING_ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]


@dataclass(eq=False)
class AuthServer:
    """State of one custom authorization server (``/oauth2/{server_id}``)."""

    server_id: str
    audience: str
    keys: KeyRing = field(repr=False)
    scopes: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set, repr=False)
    rotation_at: float | None = None

    def apply_due_rotation(self, now: float) -> None:
        """Rotate the keys if a scheduled rotation time has come."""
        if self.rotation_at is not None and now >= self.rotation_at:
            self.rotation_at = None
            self.keys.rotate()

    def jwks_max_age(self, configured: int, now: float) -> int:
        """``max-age`` for ``/v1/keys``: short near a scheduled rotation, like Okta."""
        if self.rotation_at is None:
            return configured
        return max(0, min(configured, int(self.rotation_at - now)))

    def issuer(self, base_url: str) -> str:
        """The issuer URL of this server under ``base_url``."""
        return f"{base_url}/oauth2/{self.server_id}"

    def metadata(self, base_url: str, known_scopes: set[str], *, openid: bool) -> dict[str, Any]:
        """The discovery document, as ``/.well-known/oauth-authorization-server`` (or
        ``openid-configuration`` when ``openid``) returns it."""
        iss = self.issuer(base_url)
        doc: dict[str, Any] = {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/v1/authorize",
            "token_endpoint": f"{iss}/v1/token",
            "registration_endpoint": f"{base_url}/oauth2/v1/clients",
            "jwks_uri": f"{iss}/v1/keys",
            "response_types_supported": [
                "code",
                "token",
                "id_token",
                "code id_token",
                "code token",
                "id_token token",
                "code id_token token",
            ],
            "response_modes_supported": [
                "query",
                "fragment",
                "form_post",
                "okta_post_message",
            ],
            "grant_types_supported": [
                "authorization_code",
                "implicit",
                "refresh_token",
                "password",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "scopes_supported": sorted(OIDC_SCOPES | known_scopes),
            "token_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "claims_supported": [
                "ver",
                "jti",
                "iss",
                "aud",
                "iat",
                "exp",
                "cid",
                "uid",
                "scp",
                "sub",
            ],
            "code_challenge_methods_supported": ["S256"],
            "introspection_endpoint": f"{iss}/v1/introspect",
            "introspection_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "revocation_endpoint": f"{iss}/v1/revoke",
            "revocation_endpoint_auth_methods_supported": list(_AUTH_METHODS),
            "end_session_endpoint": f"{iss}/v1/logout",
            "request_parameter_supported": True,
            "request_object_signing_alg_values_supported": list(_SIGNING_ALGS),
            "device_authorization_endpoint": f"{iss}/v1/device/authorize",
            "dpop_signing_alg_values_supported": [
                "RS256",
                "RS384",
                "RS512",
                "ES256",
                "ES384",
                "ES512",
            ],
        }
        if openid:
            doc["userinfo_endpoint"] = f"{iss}/v1/userinfo"
            doc["subject_types_supported"] = ["public"]
            doc["id_token_signing_alg_values_supported"] = ["RS256"]
        return doc
