"""Smoke test of an installed okta-guard: verify a token from the mock issuer, get a service token.

Run by ``scripts/check_dist.sh`` inside a fresh virtual environment that holds
only the wheel (or sdist) and its runtime dependencies.
"""

from __future__ import annotations

import httpx

from okta_guard import TokenClient, TokenVerifier
from okta_guard.testing import MockIssuer


def main() -> None:
    with MockIssuer() as okta:
        okta.register_client("svc", "s3cret", scopes=["orders:read"])
        verifier = TokenVerifier(okta.issuer, "api://default")
        client = TokenClient(okta.issuer, "svc", "s3cret", scopes=["orders:read"])
        token = client.get_token()
        access = verifier.verify(token.access_token)
        assert access.scopes == frozenset({"orders:read"}), access
        assert access.client_id == "svc"
        in_process = TokenVerifier(
            okta.issuer, "api://default", http_client=httpx.Client(transport=okta.transport)
        )
        assert in_process.verify(okta.mint_token(scopes=["a"])).scopes == frozenset({"a"})
    print("smoke: ok (service token minted over loopback and verified)")


if __name__ == "__main__":
    main()
