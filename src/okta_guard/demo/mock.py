"""The demo's default backend: the mock Okta issuer on a real loopback server.

:func:`run_mock_demo` starts :class:`~okta_guard.testing.MockIssuer` on
``127.0.0.1`` (a free port), registers the two service apps with fresh random
secrets and runs :func:`okta_guard.demo.scenario.run_demo`.  The mock can do what a real
tenant cannot do on demand: mint an expired token, sign with an unpublished key,
and rotate its keys.
"""

from __future__ import annotations

import secrets
import time
from typing import TextIO

import httpx

from okta_guard.call.client import TokenClient
from okta_guard.demo.dpop_step import TokenRequest
from okta_guard.demo.scenario import Rotation, run_demo
from okta_guard.testing import MockIssuer, generate_signing_key
from okta_guard.verify.verifier import TokenVerifier

__all__ = ["MockBackend", "SkewClock", "run_mock_demo"]

#: Moved onto the API's clock before the rotation: just past the 30 s refetch cooldown.
CLOCK_SKIP = 31.0


def _answer(status: int, proof: object, nonce: bool) -> str:
    """What the mock's answer meant (its DPoP rules: no proof, then no nonce, are 400s)."""
    sent = "proof + nonce" if nonce else "proof, no nonce" if proof else "no proof"
    if status == 200:
        return f"{sent:<16} 200 token_type DPoP"
    if status == 400:
        meaning = "use_dpop_nonce      -> retry" if proof else "invalid_dpop_proof  -> use DPoP"
        return f"{sent:<16} 400 {meaning}"
    return f"{sent:<16} {status}"


class SkewClock:
    """The real clock plus an offset that only grows (the demo "waits" without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead."""
        self.offset += seconds


class MockBackend:
    """Tokens from a running :class:`MockIssuer`; loopback-only HTTP clients."""

    name = "the mock Okta issuer"

    def __init__(
        self,
        okta: MockIssuer,
        *,
        read_scope: str = "orders:read",
        write_scope: str = "orders:write",
    ) -> None:
        self.okta = okta
        self.issuer = okta.issuer
        self.audience = okta.audience
        self.read_scope, self.write_scope = read_scope, write_scope
        self.clock = SkewClock()
        # loopback only: never send the demo's traffic to a proxy from the environment
        self.http = httpx.Client(trust_env=False, timeout=10.0)
        self.async_clients = [httpx.AsyncClient(trust_env=False, timeout=10.0)]
        self.reader = self._app("orders-reader", [read_scope])
        self.writer = self._app("orders-writer", [read_scope, write_scope])
        self.dpop_app: TokenClient | None = self._app("orders-dpop", [read_scope], dpop=True)

    def _app(self, client_id: str, scopes: list[str], *, dpop: bool = False) -> TokenClient:
        secret = secrets.token_urlsafe(24)
        self.okta.register_client(client_id, secret, scopes=scopes, dpop=dpop)
        return TokenClient(self.issuer, client_id, secret, scopes=scopes, http_client=self.http)

    def request_mark(self) -> int:
        """The length of the mock's request log now."""
        return len(self.okta.requests)

    def token_requests_since(self, mark: int) -> list[TokenRequest]:
        """The token requests the mock answered after ``mark``."""
        out = []
        for record in self.okta.requests[mark:]:
            if record.endpoint == "token":
                proof = record.dpop
                nonce = bool(proof and proof.get("nonce"))
                out.append(TokenRequest(record.status, _answer(record.status, proof, nonce)))
        return out

    def make_verifier(self) -> TokenVerifier:
        """A verifier on the skewable clock, fetching keys over loopback."""
        return TokenVerifier(
            self.issuer,
            self.audience,
            clock=self.clock,
            http_client=self.http,
            async_http_client=self.async_clients[0],
        )

    def expired_token(self) -> str | None:
        """A reader token that expired an hour ago (well past the leeway)."""
        return self.okta.mint_token(
            scopes=[self.read_scope], client_id=self.reader.client_id, expires_in=-3600
        )

    def forged_kid_token(self) -> str | None:
        """A reader token signed by a key the issuer never published (an unknown kid)."""
        return self.okta.mint_token(
            scopes=[self.read_scope], client_id=self.reader.client_id, key=generate_signing_key()
        )

    def rotate_keys(self) -> Rotation | None:
        """Rotate twice (the new active key was never published to the API's cache),
        then move the API's clock past the unknown-kid cooldown."""
        old = self.okta.active_kid()
        self.okta.rotate_keys()
        new = self.okta.rotate_keys()
        self.clock.advance(CLOCK_SKIP)
        return Rotation(old_kid=old, new_kid=new, clock_skipped=CLOCK_SKIP)

    def key_requests(self) -> int | None:
        """Requests the mock answered on ``/v1/keys``."""
        return self.okta.count("keys")

    def close(self) -> None:
        """Close the token clients and the shared sync HTTP client."""
        self.reader.close()
        self.writer.close()
        if self.dpop_app is not None:
            self.dpop_app.close()
        self.http.close()


def run_mock_demo(
    out: TextIO,
    *,
    read_scope: str = "orders:read",
    write_scope: str = "orders:write",
    use_uvicorn: bool | None = None,
) -> int:
    """Run the demo against a mock issuer on loopback; return the exit code."""
    with MockIssuer() as okta:
        backend = MockBackend(okta, read_scope=read_scope, write_scope=write_scope)
        try:
            return run_demo(backend, out, use_uvicorn=use_uvicorn)
        finally:
            backend.close()
