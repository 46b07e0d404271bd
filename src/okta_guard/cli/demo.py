"""``okta-guard demo`` (interim): mock issuer -> client-credentials token -> JWKS verification.

Starts the mock Okta issuer on loopback, gets a token from ``/v1/token`` with
plain httpx, and verifies it with PyJWT's ``PyJWKClient`` against the served
JWKS.  A fuller end-to-end demo replaces this later.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run an end-to-end demo against a local mock Okta issuer",
        description="Start a mock Okta issuer, obtain a service token and verify it.",
    )
    parser.set_defaults(func=run)


def _short(token: str) -> str:
    return f"{token[:12]}...{token[-6:]} ({len(token)} chars)"


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when the token verified."""
    import json
    import secrets

    import httpx
    import jwt

    from ..testing import MockIssuer

    secret = secrets.token_urlsafe(24)
    with MockIssuer() as okta:
        okta.register_client("demo-service", secret, scopes=["orders:read", "orders:write"])
        print(f"1. mock Okta issuer running at {okta.issuer}")
        with httpx.Client(trust_env=False, timeout=5.0) as http:
            meta = http.get(okta.metadata_url).raise_for_status().json()
            print(f"2. discovery: token endpoint {meta['token_endpoint']}")
            response = http.post(
                meta["token_endpoint"],
                data={"grant_type": "client_credentials", "scope": "orders:read"},
                auth=("demo-service", secret),
            )
        body = response.raise_for_status().json()
        token = body["access_token"]
        print(
            f"3. client credentials token ({body['token_type']}, expires in "
            f"{body['expires_in']} s, scope {body['scope']!r}): {_short(token)}"
        )
        jwks_client = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=True)
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=okta.audience,
            issuer=okta.issuer,
        )
        kid = (signing_key.key_id or "?")[:8]
        print(f"4. verified with PyJWT against {meta['jwks_uri']} (kid {kid}...)")
        print("5. claims:")
        print(json.dumps(claims, indent=2, sort_keys=True))
    return 0
