"""Test helpers for the verifier tests: hand-made tokens and a scriptable JWKS endpoint.

The mock issuer (``okta_guard.testing.MockIssuer``) is used for integration
tests; these helpers build the tokens and key sets it deliberately cannot
(non-canonical encodings, odd JWKs, foreign keys) and serve them through an
``httpx.MockTransport`` - no network.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from okta_guard.testing import FakeClock
from okta_guard.verify.verifier import TokenVerifier

ISSUER = "https://okta.example.com/oauth2/default"
AUDIENCE = "api://default"
NOW = 1_800_000_000.0


def rsa_key(name: str = "a", bits: int = 2048) -> rsa.RSAPrivateKey:
    """A private key, generated once per process, name and size."""
    return _rsa_key(name, bits)


@functools.cache
def _rsa_key(name: str, bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64u(data: bytes | str) -> str:
    """Base64url without padding."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64u_json(value: Any) -> str:
    """Compact JSON, base64url encoded."""
    return b64u(json.dumps(value, separators=(",", ":")))


def sign_segments(key: rsa.RSAPrivateKey, header_seg: str, payload_seg: str) -> str:
    """RS256-sign ``header_seg.payload_seg`` exactly as given and return the compact JWS."""
    signing_input = f"{header_seg}.{payload_seg}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header_seg}.{payload_seg}.{b64u(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    """Okta-shaped access token claims valid at :data:`NOW`; ``None`` removes a claim."""
    base: dict[str, Any] = {
        "ver": 1,
        "jti": "AT.test",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
        "cid": "svc",
        "scp": ["orders:read"],
        "sub": "svc",
    }
    for name, value in overrides.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def token(
    payload: Mapping[str, Any] | None = None,
    *,
    key: str = "a",
    kid: str | None = "kid-a",
    header: Mapping[str, Any] | None = None,
) -> str:
    """A signed token: ``header`` entries override ``{"alg": "RS256", "kid": kid}``."""
    head: dict[str, Any] = {"alg": "RS256"}
    if kid is not None:
        head["kid"] = kid
    head.update(header or {})
    body = claims() if payload is None else dict(payload)
    return sign_segments(rsa_key(key), b64u_json(head), b64u_json(body))


def jwk(
    key: str = "a", kid: str = "kid-a", *, bits: int = 2048, **overrides: Any
) -> dict[str, Any]:
    """The public JWK of :func:`rsa_key` ``key``; ``None`` overrides remove a member."""
    numbers = rsa_key(key, bits).public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    out: dict[str, Any] = {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": b64u(n),
        "e": b64u(e),
    }
    for name, value in overrides.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


@dataclass
class JwksEndpoint:
    """A scriptable issuer: discovery metadata plus a JWKS, over ``httpx.MockTransport``.

    ``keys`` is the JWKS member list; ``responses`` is a queue of one-shot
    replacements for the next ``/v1/keys`` answers (``httpx.Response`` or an
    exception to raise).  ``metadata`` overrides the discovery document (``None``:
    404).  ``log`` records every path requested.
    """

    keys: list[dict[str, Any]] = field(default_factory=lambda: [jwk()])
    issuer: str = ISSUER
    cache_control: str = "max-age=3600"
    metadata: dict[str, Any] | None = None
    responses: list[httpx.Response | Exception] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    on_keys: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.metadata is None:
            self.metadata = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/v1/keys"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.log.append(str(request.url))
        if path.endswith("/.well-known/oauth-authorization-server"):
            if self.metadata is None:
                return httpx.Response(404)
            return httpx.Response(200, json=self.metadata)
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(404)
        if self.on_keys is not None:
            self.on_keys()
        if self.responses:
            scripted = self.responses.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        if path.endswith("/v1/keys"):
            return httpx.Response(
                200, json={"keys": self.keys}, headers={"Cache-Control": self.cache_control}
            )
        return httpx.Response(404)

    @property
    def key_fetches(self) -> int:
        return sum(1 for url in self.log if url.endswith("/v1/keys"))

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def verifier(
    endpoint: JwksEndpoint | None = None, clock: FakeClock | None = None, **options: Any
) -> TokenVerifier:
    """A verifier for :data:`ISSUER` wired to ``endpoint`` and a fake clock at :data:`NOW`."""
    endpoint = endpoint or JwksEndpoint()
    options.setdefault("audience", AUDIENCE)
    return TokenVerifier(
        ISSUER,
        clock=clock or FakeClock(NOW),
        http_client=endpoint.client(),
        async_http_client=endpoint.async_client(),
        rand=lambda: 1.0,
        **options,
    )
