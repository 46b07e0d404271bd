"""Introspection answers in a real Redis: sealed, bound to their key, shared by replicas.

Whoever can write to the Redis of a fleet must not be able to make a revoked token
active: answers are sealed with the introspection client's credentials, so a forged
plaintext entry is a miss (Okta is asked again), while replicas holding the same
credentials share every answer (one ``/v1/introspect`` call for the fleet).
"""

from __future__ import annotations

import json
import logging

import pytest

from okta_guard import IntrospectionClient, InvalidTokenError, TokenVerifier
from okta_guard.redis import RedisStore
from okta_guard.testing import FakeClock, MockIssuer
from tests.fleet.conftest import SCOPES

INTROSPECTOR_SECRET = "introspector-secret-" + "r" * 30


@pytest.fixture(autouse=True)
def introspector(issuer: MockIssuer) -> None:
    """The app the APIs introspect with (its credentials key the seal)."""
    issuer.register_client("introspector", INTROSPECTOR_SECRET)


def replica(okta: MockIssuer, clock: FakeClock, store: RedisStore) -> TokenVerifier:
    """One API process: its own verifier and introspection client, the fleet's Redis."""
    introspection = IntrospectionClient(
        okta.issuer,
        "introspector",
        INTROSPECTOR_SECRET,
        clock=clock,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
    )
    return TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=clock,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
        introspection=introspection,
        introspection_store=store,
    )


async def test_replicas_with_the_same_credentials_share_one_introspection(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore
) -> None:
    token = issuer.mint_token(scopes=SCOPES, client_id="svc")
    one, two = replica(issuer, clock, store), replica(issuer, clock, store)
    access = one.verify(token)
    assert one.introspect(token, access) is access
    seen = two.verify(token)
    assert await two.introspect_async(token, seen) is seen
    assert two.introspect(token, seen) is seen
    assert issuer.count("introspect") == 1
    assert two.revocation is not None and two.revocation.stats.cache_hits == 2


def test_a_forged_active_answer_in_redis_does_not_unrevoke_a_token(
    issuer: MockIssuer, clock: FakeClock, store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.mint_token(scopes=SCOPES, client_id="svc")
    issuer.revoke(token)
    api = replica(issuer, clock, store)
    access = api.verify(token)
    assert api.revocation is not None
    key = api.revocation.key(token)
    forged = json.dumps(
        {
            "active": True,
            "scope": " ".join(SCOPES),
            "client_id": "svc",
            "exp": access.expires_at.timestamp(),
            "iss": issuer.issuer,
            "okta_guard_checked_at": clock(),
        }
    ).encode()
    store.set(key, forged, 30)  # written straight into Redis, as an attacker could
    caplog.set_level(logging.WARNING, "okta_guard")
    with pytest.raises(InvalidTokenError) as info:
        api.introspect(token, access)
    assert info.value.reason == "revoked"
    assert issuer.count("introspect") == 1  # the forged entry was a miss
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("failed authentication" in m for m in warnings)
    assert not any(token in m or INTROSPECTOR_SECRET in m for m in warnings)
    kept = store.get(key)  # the real answer replaced the forgery, sealed
    assert kept is not None and kept != forged and b"active" not in kept
    with pytest.raises(InvalidTokenError):  # and is served from Redis from now on
        api.introspect(token, access)
    assert issuer.count("introspect") == 1
