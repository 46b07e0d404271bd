"""TokenVerifier.verify_dpop: every proof rule of RFC 9449 §4.3, one test each.

Proofs are built here by hand with PyJWT and ``cryptography`` (not with okta-guard's own
client code), so these tests check the verifier against the RFC, not against itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_guard.errors import (
    DPoPNonceError,
    InvalidDPoPProofError,
    InvalidTokenError,
    ReplayStoreError,
)
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.dpop import jwk_thumbprint, normalize_htu
from okta_guard.verify.replay import MemoryReplayStore
from okta_guard.verify.verifier import TokenVerifier

URL = "https://api.example.com/orders"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> dict[str, Any]:
    algo = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    jwk = json.loads(algo.to_jwk(key.public_key()))
    return {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}


EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ath(token: str) -> str:
    return b64u(hashlib.sha256(token.encode()).digest())


def make_proof(
    token: str | None,
    now: float,
    *,
    key: Any = EC_KEY,
    alg: str = "ES256",
    jwk: Mapping[str, Any] | None = None,
    header: Mapping[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    body: dict[str, Any] = {
        "jti": f"jti-{now}-{id(claims)}-{len(claims)}",
        "htm": "GET",
        "htu": URL,
        "iat": int(now),
    }
    if token is not None:
        body["ath"] = ath(token)
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    head: dict[str, Any] = {"typ": "dpop+jwt", "jwk": dict(jwk or public_jwk(key))}
    head.update(header or {})
    return jwt.encode(body, key, algorithm=alg, headers=head)


class Setup:
    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        self.okta = MockIssuer(clock=self.clock)
        self.verifier = TokenVerifier(
            self.okta.issuer,
            self.okta.audience,
            clock=self.clock,
            http_client=self.okta.http_client(),
            async_http_client=self.okta.async_http_client(),
            **options,
        )

    def token(self, key: Any = EC_KEY, **claims: Any) -> str:
        cnf = {"cnf": {"jkt": jwk_thumbprint(public_jwk(key))}}
        cnf.update(claims)
        return self.okta.mint_token(scopes=["orders:read"], client_id="svc", claims=cnf)

    def check(self, token: str, proof: str | None, method: str = "GET", url: str = URL) -> Any:
        return self.verifier.verify_dpop(token, proof, method=method, url=url)

    def reason(self, token: str, proof: str | None, **kwargs: Any) -> str:
        with pytest.raises(InvalidTokenError) as info:
            self.check(token, proof, **kwargs)
        return info.value.reason


@pytest.fixture
def s() -> Setup:
    return Setup()


def test_a_good_proof_is_accepted_with_scheme_and_thumbprint(s: Setup) -> None:
    token = s.token()
    result = s.check(token, make_proof(token, s.clock()))
    assert result.scheme == "DPoP"
    assert result.key_thumbprint == jwk_thumbprint(public_jwk(EC_KEY))
    assert result.claims["cnf"] == {"jkt": result.key_thumbprint}
    assert "orders:read" in result.scopes


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ec.generate_private_key(ec.SECP521R1()), "ES512"),
        (RSA_KEY, "RS256"),
        (RSA_KEY, "PS256"),
    ],
)
def test_other_asymmetric_algorithms(s: Setup, key: Any, alg: str) -> None:
    token = s.token(key)
    assert s.check(token, make_proof(token, s.clock(), key=key, alg=alg)).scheme == "DPoP"


def test_replayed_proof_refused(s: Setup) -> None:
    token = s.token()
    proof = make_proof(token, s.clock())
    s.check(token, proof)
    assert s.reason(token, proof) == "dpop_replay"


async def test_replay_cache_is_shared_by_sync_and_async(s: Setup) -> None:
    token = s.token()
    proof = make_proof(token, s.clock())
    await s.verifier.verify_dpop_async(token, proof, method="GET", url=URL)
    assert s.reason(token, proof) == "dpop_replay"
    other = make_proof(token, s.clock(), jti="second")
    s.check(token, other)
    with pytest.raises(InvalidDPoPProofError):
        await s.verifier.verify_dpop_async(token, other, method="GET", url=URL)


def test_proof_for_another_url_or_method_refused(s: Setup) -> None:
    token = s.token()
    assert s.reason(token, make_proof(token, s.clock(), htu=URL + "/1")) == "dpop_htu"
    assert s.reason(token, make_proof(token, s.clock(), htu="https://evil.example/orders")) == (
        "dpop_htu"
    )
    assert s.reason(token, make_proof(token, s.clock(), htm="POST")) == "dpop_htm"
    assert s.reason(token, make_proof(token, s.clock()), method="DELETE") == "dpop_htm"


def test_htu_ignores_query_and_fragment_and_normalises(s: Setup) -> None:
    token = s.token()
    s.check(token, make_proof(token, s.clock(), htu="HTTPS://API.example.com:443/orders?x=1#f"))
    assert normalize_htu("http://h:80/a%7Eb") == normalize_htu("http://H/a~b") == "http://h/a~b"
    assert normalize_htu("ftp://h/") is None
    assert normalize_htu("not a url") is None


def test_stale_and_future_iat_refused_within_leeway() -> None:
    s = Setup(leeway=10.0, dpop_max_age=60.0)
    token = s.token()
    now = s.clock()
    s.check(token, make_proof(token, now - 69, jti="edge-old"))
    s.check(token, make_proof(token, now + 9, jti="edge-new"))
    assert s.reason(token, make_proof(token, now - 71)) == "dpop_iat_stale"
    assert s.reason(token, make_proof(token, now + 11)) == "dpop_iat_future"


def test_wrong_or_missing_ath_refused(s: Setup) -> None:
    token = s.token()
    assert s.reason(token, make_proof(token, s.clock(), ath=ath(token + "x"))) == "dpop_ath"
    assert s.reason(token, make_proof(token, s.clock(), drop=("ath",))) == "dpop_ath"


def test_proof_signed_by_another_key_than_cnf_jkt_refused(s: Setup) -> None:
    token = s.token(EC_KEY)
    assert s.reason(token, make_proof(token, s.clock(), key=OTHER_KEY)) == "dpop_jkt"


def test_jwk_header_of_one_key_signature_of_another_refused(s: Setup) -> None:
    token = s.token()
    forged = make_proof(token, s.clock(), key=OTHER_KEY, jwk=public_jwk(EC_KEY))
    assert s.reason(token, forged) == "dpop_signature"


def test_hmac_and_none_algorithms_refused(s: Setup) -> None:
    token = s.token()
    body = {"jti": "h", "htm": "GET", "htu": URL, "iat": int(s.clock()), "ath": ath(token)}
    hmac_proof = jwt.encode(
        body,
        "k" * 32,
        algorithm="HS256",
        headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "a2V5"}},
    )
    assert s.reason(token, hmac_proof) in ("dpop_alg", "dpop_private_jwk")
    head = b64u(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk(EC_KEY)}).encode())
    none_proof = f"{head}.{b64u(json.dumps(body).encode())}.sig"
    assert s.reason(token, none_proof) == "dpop_alg"
    assert s.reason(token, none_proof[: none_proof.rindex(".") + 1]) == "dpop_malformed"


def test_algorithm_allowlist_is_configurable() -> None:
    s = Setup(dpop_algorithms=["ES256"])
    token = s.token(RSA_KEY)
    assert s.reason(token, make_proof(token, s.clock(), key=RSA_KEY, alg="RS256")) == "dpop_alg"


def test_private_jwk_refused(s: Setup) -> None:
    token = s.token()
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY))
    assert "d" in private
    assert s.reason(token, make_proof(token, s.clock(), jwk=private)) == "dpop_private_jwk"
    rsa_private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY))
    token = s.token(RSA_KEY)
    proof = make_proof(token, s.clock(), key=RSA_KEY, alg="RS256", jwk=rsa_private)
    assert s.reason(token, proof) == "dpop_private_jwk"


def test_typ_and_header_members_checked(s: Setup) -> None:
    token = s.token()
    assert s.reason(token, make_proof(token, s.clock(), header={"typ": "JWT"})) == "dpop_typ"
    assert s.reason(token, make_proof(token, s.clock(), header={"jku": "https://x"})) == (
        "dpop_header"
    )
    assert s.reason(token, make_proof(token, s.clock(), header={"crit": ["x"]})) == "dpop_header"


@pytest.mark.filterwarnings("ignore:The RSA key is 1024")
def test_jwk_must_fit_alg_and_be_strong(s: Setup) -> None:
    token = s.token()
    wrong_curve = public_jwk(ec.generate_private_key(ec.SECP384R1()))
    assert s.reason(token, make_proof(token, s.clock(), jwk=wrong_curve)) == "dpop_jwk"
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    proof = make_proof(token, s.clock(), key=weak, alg="RS256")
    assert s.reason(token, proof) == "dpop_jwk"
    off_curve = dict(public_jwk(EC_KEY), y=b64u(b"\x01" * 32))
    assert s.reason(token, make_proof(token, s.clock(), jwk=off_curve)) == "dpop_jwk"


def test_missing_claims_refused(s: Setup) -> None:
    token = s.token()
    for name in ("jti", "htm", "htu", "iat"):
        assert s.reason(token, make_proof(token, s.clock(), drop=(name,))) == "dpop_claims"
    assert s.reason(token, make_proof(token, s.clock(), iat="now")) == "dpop_claims"


def test_missing_and_malformed_proof_refused(s: Setup) -> None:
    token = s.token()
    assert s.reason(token, None) == "dpop_missing"
    assert s.reason(token, "a.b") == "dpop_malformed"
    assert s.reason(token, "é.b.c") == "dpop_malformed"
    good = make_proof(token, s.clock())
    head, body, sig = good.split(".")
    assert s.reason(token, f"{head}.{body}=.{sig}") == "dpop_malformed"


def test_unbound_token_with_dpop_scheme_refused(s: Setup) -> None:
    plain = s.okta.mint_token(scopes=["orders:read"], client_id="svc")
    assert s.reason(plain, make_proof(plain, s.clock())) == "not_dpop_bound"


def test_bound_token_as_bearer_still_refused_even_after_dpop_use(s: Setup) -> None:
    token = s.token()
    s.check(token, make_proof(token, s.clock()))
    with pytest.raises(InvalidTokenError) as info:
        s.verifier.verify(token)
    assert info.value.reason == "dpop_bound"
    assert s.verifier.verify_cached(token) is None


def test_required_mode_refuses_bearer_tokens() -> None:
    s = Setup(dpop="required")
    plain = s.okta.mint_token(scopes=["orders:read"], client_id="svc")
    with pytest.raises(InvalidTokenError) as info:
        s.verifier.verify(plain)
    assert info.value.reason == "dpop_required"
    with pytest.raises(InvalidTokenError):
        asyncio.run(s.verifier.verify_async(plain))
    token = s.token()
    assert s.check(token, make_proof(token, s.clock())).scheme == "DPoP"


def test_disabled_mode_refuses_dpop() -> None:
    s = Setup(dpop="disabled")
    token = s.token()
    assert s.reason(token, make_proof(token, s.clock())) == "dpop_disabled"


def test_expired_bound_token_refused(s: Setup) -> None:
    token = s.token()
    s.check(token, make_proof(token, s.clock()))
    s.clock.advance(3600 + 120)
    assert s.reason(token, make_proof(token, s.clock())) == "expired"


def test_server_nonce_demanded_then_accepted() -> None:
    s = Setup(dpop_nonce=True, dpop_nonce_lifetime=300)
    token = s.token()
    with pytest.raises(DPoPNonceError) as info:
        s.check(token, make_proof(token, s.clock()))
    nonce = info.value.nonce
    assert info.value.error == "use_dpop_nonce" and info.value.status_code == 401
    s.check(token, make_proof(token, s.clock(), nonce=nonce))
    s.clock.advance(400)  # the next slot: the old nonce still works
    s.check(token, make_proof(token, s.clock(), nonce=nonce))
    s.clock.advance(300)  # two slots on: refused, with a fresh nonce
    with pytest.raises(DPoPNonceError) as again:
        s.check(token, make_proof(token, s.clock(), nonce=nonce))
    assert again.value.nonce != nonce
    with pytest.raises(DPoPNonceError):
        s.check(token, make_proof(token, s.clock(), nonce="forged-" + nonce[7:]))


def test_a_nonce_refusal_does_not_spend_the_jti() -> None:
    s = Setup(dpop_nonce=True)
    token = s.token()
    with pytest.raises(DPoPNonceError) as info:
        s.check(token, make_proof(token, s.clock(), jti="same"))
    s.check(token, make_proof(token, s.clock(), jti="same", nonce=info.value.nonce))


class BrokenStore:
    def add(self, key: str, value: bytes, ttl: float) -> bool:
        raise ConnectionError("down")

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        raise ConnectionError("down")


def test_store_failure_fails_closed_with_503() -> None:
    s = Setup(replay_store=BrokenStore())
    token = s.token()
    with pytest.raises(ReplayStoreError) as info:
        s.check(token, make_proof(token, s.clock()))
    assert info.value.status_code == 503
    with pytest.raises(ReplayStoreError):
        asyncio.run(
            s.verifier.verify_dpop_async(token, make_proof(token, s.clock()), method="GET", url=URL)
        )


def test_store_failure_can_fail_open_when_asked() -> None:
    s = Setup(replay_store=BrokenStore(), dpop_fail_open=True)
    token = s.token()
    assert s.check(token, make_proof(token, s.clock())).scheme == "DPoP"


def test_replay_store_receives_namespaced_keys_with_a_ttl() -> None:
    seen: list[tuple[str, float]] = []

    class Recording(MemoryReplayStore):
        def add(self, key: str, value: bytes, ttl: float) -> bool:
            seen.append((key, ttl))
            return super().add(key, value, ttl)

    s = Setup(replay_store=Recording(), leeway=5.0, dpop_max_age=30.0)
    token = s.token()
    s.check(token, make_proof(token, s.clock(), jti="x" * 200))
    ((key, ttl),) = seen
    assert key.startswith("okta-guard:dpop-jti:") and len(key) < 60 and ttl == 40.0


def test_memory_store_is_bounded_and_refuses_rather_than_forgets() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(2, clock=clock)
    assert store.add("a", b"1", 10) and store.add("b", b"1", 10)
    assert not store.add("a", b"1", 10)
    with pytest.raises(RuntimeError):
        store.add("c", b"1", 10)
    clock.advance(11)
    assert store.add("c", b"1", 10) and store.add("a", b"1", 10)
    assert len(store) == 2


def test_configuration_errors() -> None:
    from okta_guard.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Setup(dpop="sometimes")
    with pytest.raises(ConfigurationError):
        Setup(dpop_algorithms=["HS256"])
    with pytest.raises(ConfigurationError):
        Setup(dpop_origin="https://api.example.com/path")
    with pytest.raises(ConfigurationError):
        Setup(replay_store=object())
    with pytest.raises(ConfigurationError):
        Setup(dpop_nonce=True, dpop_nonce_secret=b"short")


def test_bound_token_cache_checks_time_and_key_and_is_bounded() -> None:
    from okta_guard.models import AccessToken
    from okta_guard.verify.bound import BoundTokenCache

    result = AccessToken.from_claims({"iss": "i", "aud": "a", "exp": 200, "cnf": {"jkt": "k"}})
    key, other = object(), object()
    cache = BoundTokenCache(2)
    cache.put("t1", (result, 200.0, 100.0, "kid", key))  # type: ignore[arg-type]
    current = {"kid": key}

    def lookup(kid: str, now: float) -> object:
        return current.get(kid)

    assert cache.get("t1", 150, 0, lookup) is result
    assert cache.get("t1", 99, 0, lookup) is None  # before nbf
    assert cache.get("t1", 200, 0, lookup) is None  # expired
    current["kid"] = other
    assert cache.get("t1", 150, 0, lookup) is None  # the key changed
    assert cache.purge_kids(frozenset({"kid"})) == 1 and len(cache) == 0
    for name in ("a", "b", "c"):
        cache.put(name, (result, 200.0, 100.0, "kid", key))  # type: ignore[arg-type]
    assert list(cache.entries) == ["b", "c"]
    assert BoundTokenCache(0).get("a", 150, 0, lookup) is None
