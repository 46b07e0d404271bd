"""A fake verifier for the web-integration tests (no keys, no network)."""

from __future__ import annotations

import time

from okta_guard.errors import InvalidTokenError, IssuerUnavailableError
from okta_guard.models import AccessToken

ISSUER = "http://okta.localhost/oauth2/default"
AUDIENCE = "api://orders"


def make_token(*scopes: str, sub: str = "alice@example.com") -> AccessToken:
    """An AccessToken as a verifier would return it."""
    return AccessToken.from_claims(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": time.time() + 3600,
            "scp": list(scopes),
            "sub": sub,
            "cid": "svc",
        }
    )


class FakeVerifier:
    """Accepts the tokens in ``tokens``; ``"down"`` raises 503; the rest 401."""

    def __init__(self, fail_prewarm: bool = False) -> None:
        self.issuer = ISSUER
        self.audience = AUDIENCE
        self.tokens = {
            "read": make_token("orders:read"),
            "write": make_token("orders:write"),
            "both": make_token("orders:read", "orders:write"),
            "none": make_token(),
            "admin": make_token("admin"),
        }
        self.verified: list[str] = []
        self.prewarmed = 0
        self.fail_prewarm = fail_prewarm

    async def verify_async(self, token: str) -> AccessToken:
        self.verified.append(token)
        if token == "down":
            raise IssuerUnavailableError(retry_after=7.2)
        try:
            return self.tokens[token]
        except KeyError:
            raise InvalidTokenError("The access token is invalid.", reason="bad") from None

    async def prewarm_async(self) -> None:
        self.prewarmed += 1
        if self.fail_prewarm:
            raise IssuerUnavailableError(retry_after=5)


def bearer(token: str) -> dict[str, str]:
    """Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}
