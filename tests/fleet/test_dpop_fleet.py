"""DPoP across replicas sharing a RedisStore: one replay cache for every API server, and
DPoP-bound service tokens shared only by the processes holding the same proof key."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from okta_guard import TokenClient, TokenVerifier
from okta_guard.errors import InvalidTokenError, ReplayStoreError
from okta_guard.redis import RedisStore
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.dpop import jwk_thumbprint
from tests.fleet.conftest import LOADED, SCOPES, SECRET
from tests.support.redis_server import free_port

URL = "https://api.example.com/orders"
KEY = ec.generate_private_key(ec.SECP256R1())


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {k: jwk[k] for k in ("kty", "crv", "x", "y")}


def proof(token: str, now: float, jti: str | None = None) -> str:
    """A DPoP proof built by hand (PyJWT), independent of okta-guard's client."""
    claims = {
        "jti": jti or uuid.uuid4().hex,
        "htm": "GET",
        "htu": URL,
        "iat": int(now),
        "ath": b64u(hashlib.sha256(token.encode()).digest()),
    }
    headers = {"typ": "dpop+jwt", "jwk": public_jwk(KEY)}
    return jwt.encode(claims, KEY, algorithm="ES256", headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[MockIssuer]:
    okta = MockIssuer(clock=clock)
    okta.register_client("svc", SECRET, scopes=SCOPES, dpop=True)
    yield okta
    okta.close()


def replica(okta: MockIssuer, clock: FakeClock, store: object, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        okta.issuer, okta.audience, clock=clock, http_client=okta.http_client(),
        async_http_client=okta.async_http_client(), replay_store=store, **options,
    )  # fmt: skip


def bound_token(okta: MockIssuer) -> str:
    return okta.mint_token(
        scopes=SCOPES, client_id="svc", claims={"cnf": {"jkt": jwk_thumbprint(public_jwk(KEY))}}
    )


def test_a_proof_accepted_by_one_replica_is_refused_by_another_sharing_the_store(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore, redis_url: str, namespace: str
) -> None:
    other_store = RedisStore(redis_url, namespace=namespace, socket_timeout=LOADED)
    first, second = replica(issuer, clock, store), replica(issuer, clock, other_store)
    token = bound_token(issuer)
    once = proof(token, clock())
    assert first.verify_dpop(token, once, method="GET", url=URL).scheme == "DPoP"
    with pytest.raises(InvalidTokenError) as refused:
        second.verify_dpop(token, once, method="GET", url=URL)
    assert refused.value.reason == "dpop_replay"
    # a fresh proof is fine on either replica
    assert second.verify_dpop(token, proof(token, clock()), method="GET", url=URL)
    other_store.close()


async def test_the_same_across_replicas_async(
    issuer: MockIssuer, clock: FakeClock, async_store: RedisStore, redis_url: str, namespace: str
) -> None:
    other_store = RedisStore(redis_url, namespace=namespace, socket_timeout=LOADED)
    first, second = replica(issuer, clock, async_store), replica(issuer, clock, other_store)
    token = bound_token(issuer)
    once = proof(token, clock())
    await first.verify_dpop_async(token, once, method="GET", url=URL)
    with pytest.raises(InvalidTokenError) as refused:
        await second.verify_dpop_async(token, once, method="GET", url=URL)
    assert refused.value.reason == "dpop_replay"
    await other_store.aclose()


def test_without_a_shared_store_each_replica_accepts_the_replay(
    issuer: MockIssuer, clock: FakeClock
) -> None:
    token = bound_token(issuer)
    once = proof(token, clock())
    first, second = replica(issuer, clock, None), replica(issuer, clock, None)
    first.verify_dpop(token, once, method="GET", url=URL)
    assert second.verify_dpop(token, once, method="GET", url=URL)  # why fleets need the store


def test_an_unreachable_replay_store_fails_closed_unless_told_otherwise(
    issuer: MockIssuer, clock: FakeClock
) -> None:
    down = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    token = bound_token(issuer)
    with pytest.raises(ReplayStoreError) as refused:
        replica(issuer, clock, down).verify_dpop(
            token, proof(token, clock()), method="GET", url=URL
        )
    assert refused.value.status_code == 503
    lenient = replica(issuer, clock, down, dpop_fail_open=True)
    assert lenient.verify_dpop(token, proof(token, clock()), method="GET", url=URL)


PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def dpop_client(okta: MockIssuer, clock: FakeClock, store: RedisStore, key: Any) -> TokenClient:
    return TokenClient(
        okta.issuer, "svc", SECRET, scopes=SCOPES, clock=clock, store=store,
        http_client=okta.http_client(), dpop=True, dpop_key=key,
    )  # fmt: skip


def test_replicas_with_the_same_dpop_key_share_one_bound_token(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    a, b = dpop_client(issuer, clock, store, PEM), dpop_client(issuer, clock, store, PEM)
    token = a.get_token()
    assert token.token_type == "DPoP"
    assert b.get_token().access_token == token.access_token
    assert issuer.count("token") <= 2  # one request (plus Okta's nonce round trip)
    requests = issuer.count("token")
    # b can use it: its proof key is the token's cnf.jkt
    api = replica(issuer, clock, store)
    proof_b = b.dpop_proof("GET", URL, access_token=token.access_token)
    assert api.verify_dpop(token.access_token, proof_b, method="GET", url=URL).scheme == "DPoP"
    # a replica with another key gets (and keeps) a token of its own
    other = dpop_client(issuer, clock, store, ec.generate_private_key(ec.SECP256R1()))
    assert other.get_token().access_token != token.access_token
    assert issuer.count("token") > requests


def test_a_client_that_switches_to_dpop_does_not_share_its_bound_token_as_bearer(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore, redis_url: str
) -> None:
    import redis

    switching = TokenClient(
        issuer.issuer, "svc", SECRET, scopes=SCOPES, clock=clock, store=store,
        http_client=issuer.http_client(),
    )  # fmt: skip  # dpop=None: switches when Okta demands proofs
    bearer_slot = switching._shared.slot if switching._shared else ""
    assert switching.get_token().token_type == "DPoP"
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(f"{store.namespace}:{bearer_slot}") is None  # nothing under the Bearer slot
    raw.close()
