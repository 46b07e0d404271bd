"""TokenVerifier: configuration, construction helpers, the verified-token cache, counters."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from okta_guard.errors import ConfigurationError, InvalidTokenError, IssuerUnavailableError
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.stats import VerifierStats
from okta_guard.verify.verdict_cache import VerifiedTokenCache
from okta_guard.verify.verifier import TokenVerifier
from tests.support.verifier_helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    JwksEndpoint,
    claims,
    jwk,
    token,
    verifier,
)

# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "needle"),
    [
        ("http://okta.example.com/oauth2/default", "https"),
        ("https://okta.example.com", "custom authorization server"),
        ("https://{yourOktaDomain}/oauth2/default", "placeholder"),
        ("https://dev-1-admin.okta.com/oauth2/default", "admin"),
        ("https://okta.example.com/oauth2/default/", "slash"),
        ("", "empty"),
    ],
)
def test_bad_issuer_fails_at_construction(issuer: str, needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TokenVerifier(issuer, AUDIENCE)
    assert needle in str(info.value)


@pytest.mark.parametrize("audience", ["", "  ", [], [""], ("a", 5), None, 5])
def test_empty_audience_fails(audience: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        TokenVerifier(ISSUER, audience)
    assert "audience" in str(info.value).lower()


@pytest.mark.parametrize(
    "options",
    [
        {"leeway": -1},
        {"leeway": float("nan")},
        {"leeway": "soon"},
        {"jwks_cooldown": float("inf")},
        {"max_stale": -5},
        {"client_ids": []},
        {"client_ids": [""]},
        {"max_token_size": 10},
        {"token_cache_size": -1},
        {"max_token_lifetime": 0},
        {"jwks_uri": "http://keys.example.com/jwks"},
        {"jwks_uri": "ftp://keys.example.com/jwks"},
        {"jwks_uri": "https://[::1"},
        {"timeout": 0},
    ],
)
def test_bad_options_fail(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(ISSUER, AUDIENCE, **options)


def test_loopback_issuer_and_jwks_uri_allowed_over_http() -> None:
    v = TokenVerifier(
        "http://127.0.0.1:8080/oauth2/default",
        AUDIENCE,
        jwks_uri="http://localhost:8080/oauth2/default/v1/keys",
    )
    assert v.issuer == "http://127.0.0.1:8080/oauth2/default"


def test_properties_and_repr() -> None:
    v = TokenVerifier(ISSUER, ("api://a", "api://b"), client_ids="svc")
    assert v.issuer == ISSUER
    assert v.audience == ("api://a", "api://b")
    assert TokenVerifier(ISSUER, AUDIENCE).audience == AUDIENCE
    assert repr(v) == f"TokenVerifier(issuer={ISSUER!r}, audience=('api://a', 'api://b'))"


def test_from_domain() -> None:
    v = TokenVerifier.from_domain("dev-123456.okta.com", AUDIENCE)
    assert v.issuer == "https://dev-123456.okta.com/oauth2/default"
    v2 = TokenVerifier.from_domain("https://dev-123456.okta.com", AUDIENCE, "aus123", leeway=5)
    assert v2.issuer == "https://dev-123456.okta.com/oauth2/aus123"


def test_from_env() -> None:
    env = {
        "OKTA_DOMAIN": "dev-1.okta.com",
        "OKTA_AUTH_SERVER_ID": "orders",
        "OKTA_AUDIENCE": "api://orders",
        "OKTA_CLIENT_IDS": "svc-a, svc-b",
    }
    v = TokenVerifier.from_env(env)
    assert v.issuer == "https://dev-1.okta.com/oauth2/orders"
    assert v.audience == "api://orders"
    v2 = TokenVerifier.from_env({"OKTA_ISSUER": ISSUER, "OKTA_AUDIENCE": "api://a api://b"})
    assert v2.audience == ("api://a", "api://b")


def test_from_env_client_ids_enforced() -> None:
    endpoint = JwksEndpoint()
    env = {"OKTA_ISSUER": ISSUER, "OKTA_AUDIENCE": AUDIENCE, "OKTA_CLIENT_IDS": "other"}
    v = TokenVerifier.from_env(env, clock=FakeClock(NOW), http_client=endpoint.client())
    with pytest.raises(InvalidTokenError) as info:
        v.verify(token())
    assert info.value.reason == "client_id_not_allowed"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OKTA_AUDIENCE": AUDIENCE}, "OKTA_ISSUER"),
        ({"OKTA_ISSUER": ISSUER}, "OKTA_AUDIENCE"),
        ({"OKTA_ISSUER": ISSUER + "/", "OKTA_AUDIENCE": AUDIENCE}, "slash"),
    ],
)
def test_from_env_errors(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TokenVerifier.from_env(env)
    assert needle in str(info.value)


# -- claims options ----------------------------------------------------------------------


def test_access_token_fields() -> None:
    at = verifier().verify(token(claims(scp=["a", "b"], uid="00u1", sub="me@example.com")))
    assert at.scopes == {"a", "b"}
    assert at.client_id == "svc"
    assert at.subject == "me@example.com"
    assert at.issuer == ISSUER
    assert at.audience == (AUDIENCE,)
    assert at.expires_at.timestamp() == NOW + 3600
    assert at.claims["uid"] == "00u1"


def test_scp_must_be_a_list_of_strings() -> None:
    with pytest.raises(InvalidTokenError) as info:
        verifier().verify(token(claims(scp=["a", 1])))
    assert info.value.reason == "bad_claim"


def test_required_claims() -> None:
    v = verifier(required_claims=("uid",))
    with pytest.raises(InvalidTokenError) as info:
        v.verify(token())
    assert info.value.reason == "missing_claim"
    assert v.verify(token(claims(uid="00u1"))).claims["uid"] == "00u1"


def test_max_token_lifetime() -> None:
    v = verifier(max_token_lifetime=3600)
    assert v.verify(token()).client_id == "svc"
    with pytest.raises(InvalidTokenError) as info:
        v.verify(token(claims(exp=int(NOW) + 3601)))
    assert info.value.reason == "lifetime_too_long"
    with pytest.raises(InvalidTokenError):
        v.verify(token(claims(iat=None, exp=int(NOW) + 7200)))


def test_rs384_when_configured_and_key_alg_absent() -> None:
    from okta_guard.verify.jws import SUPPORTED_ALGORITHMS
    from tests.support.verifier_helpers import b64u_json, rsa_key

    assert "RS384" in SUPPORTED_ALGORITHMS
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    head = b64u_json({"alg": "RS384", "kid": "kid-a"})
    body = b64u_json(claims())
    sig = rsa_key("a").sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA384())
    from tests.support.verifier_helpers import b64u

    tok = f"{head}.{body}.{b64u(sig)}"
    v = verifier(JwksEndpoint(keys=[jwk(alg=None)]), algorithms=("RS256", "RS384"))
    assert v.verify(tok).client_id == "svc"
    with pytest.raises(InvalidTokenError) as info:
        verifier(JwksEndpoint(keys=[jwk(alg=None)])).verify(tok)
    assert info.value.reason == "alg_not_allowed"


# -- the verified-token cache ------------------------------------------------------------


def test_repeated_token_is_a_cache_hit() -> None:
    v = verifier()
    tok = token()
    first = v.verify(tok)
    assert v.verify(tok) is first
    stats = v.stats
    assert (stats.cache_hits, stats.cache_misses, stats.accepted) == (1, 1, 2)


async def test_async_cache_hit() -> None:
    v = verifier()
    tok = token()
    first = await v.verify_async(tok)
    assert await v.verify_async(tok) is first
    assert v.verify(tok) is first
    assert v.stats.cache_hits == 2


def test_cache_memory_is_bounded_under_a_flood_of_unique_tokens() -> None:
    v = verifier(token_cache_size=50)
    for i in range(200):
        v.verify(token(claims(jti=f"AT.{i}")))
    assert v.stats.cached_tokens == 50


def test_cache_can_be_disabled_and_cleared() -> None:
    v = verifier(token_cache_size=0)
    tok = token()
    assert v.verify(tok) is not v.verify(tok)
    assert v.stats.cached_tokens == 0
    v2 = verifier()
    v2.verify(tok)
    v2.clear_cache()
    assert v2.stats.cached_tokens == 0


def test_cache_hit_respects_nbf_after_clock_goes_back() -> None:
    clock = FakeClock(NOW)
    v = verifier(clock=clock)
    tok = token(claims(nbf=int(NOW)))
    v.verify(tok)
    clock.set(NOW - 61)
    with pytest.raises(InvalidTokenError) as info:
        v.verify(tok)
    assert info.value.reason == "not_yet_valid"


def _no_key(kid: str, now: float) -> None:
    return None


def test_token_cache_unit() -> None:
    cache = VerifiedTokenCache(2, current_key=_no_key)
    assert cache.lookup(b"x" * 40, NOW) is None
    assert cache.lookup(None) is None and cache.lookup(123) is None
    assert cache.purge_kids(frozenset({"k"})) == 0
    assert len(VerifiedTokenCache(0)) == 0


def _live_key() -> Any:
    from okta_guard.verify.keyset import KeyEntry

    entry = KeyEntry("k", "n", "e", None, None)  # type: ignore[arg-type]
    entry.lease.until = float("inf")  # as the key cache sets it for a key in a fresh set
    return entry


def _verdict(raw: bytes, key: Any) -> Any:

    access = verifier().verify(token())
    return VerifiedTokenCache(1).verdict(raw.decode(), access, NOW + 3600, float("-inf"), key)


def test_token_cache_compares_the_whole_token_not_only_its_slot() -> None:
    from okta_guard.verify.verdict_cache import KEY_BYTES

    key = _live_key()
    fresh = lambda kid, now: key  # noqa: E731
    cache = VerifiedTokenCache(8, current_key=fresh)
    good = b"A" * 300 + b"same-tail-16byte"
    forged = b"B" * 300 + b"same-tail-16byte"  # same last KEY_BYTES bytes, other token
    assert good[-KEY_BYTES:] == forged[-KEY_BYTES:]
    cache.put(_verdict(good, key))
    assert cache.lookup(good, NOW) is not None
    assert cache.lookup(b"Bearer " + good, NOW) is not None  # the header's form
    assert cache.lookup(good.decode(), NOW) is not None  # both forms hit
    assert cache.lookup(b"bearer " + good, NOW) is None  # only the exact header form
    assert cache.lookup(b"Bearer  " + good, NOW) is None
    assert cache.lookup(forged, NOW) is None
    assert cache.lookup(b"Bearer " + forged, NOW) is None
    assert cache.lookup(forged.decode(), NOW) is None
    assert cache.find(forged) is None
    cache.discard(forged)  # another token sharing the slot is not dropped
    assert cache.lookup(good, NOW) is not None
    cache.discard(good)
    assert len(cache) == 0


def test_token_cache_evicts_the_oldest_unless_it_was_hit() -> None:
    key = _live_key()
    fresh = lambda kid, now: key  # noqa: E731
    cache = VerifiedTokenCache(2, current_key=fresh)
    first, second, third = (bytes([65 + i]) * 64 for i in range(3))
    cache.put(_verdict(first, key))
    cache.put(_verdict(second, key))
    assert cache.lookup(first, NOW) is not None  # first gets a second chance
    cache.put(_verdict(third, key))
    assert len(cache) == 2
    assert cache.find(first) is not None and cache.find(second) is None
    assert cache.find(second.decode()) is None and cache.find(third.decode()) is not None


def test_token_cache_a_token_sharing_a_tail_replaces_the_older_one_whole() -> None:
    key = _live_key()
    cache = VerifiedTokenCache(4)
    older, newer = b"A" * 64 + b"same-tail-16byte", b"B" * 64 + b"same-tail-16byte"
    cache.put(_verdict(older, key))
    cache.put(_verdict(newer, key))
    assert len(cache) == 1
    assert cache.find(older) is None and cache.find(older.decode()) is None
    assert cache.find(newer) is not None and cache.find(newer.decode()) is not None


def test_only_accepted_tokens_are_cached() -> None:
    v = verifier()
    for i in range(20):
        with pytest.raises(InvalidTokenError):
            v.verify(token(claims(jti=f"AT.{i}", aud="nope")))
    assert v.stats.cached_tokens == 0


# -- counters, failures, hygiene ---------------------------------------------------------


def test_stats_snapshot() -> None:
    v = verifier()
    v.verify(token())
    with pytest.raises(InvalidTokenError):
        v.verify(token(claims(exp=1)))
    with pytest.raises(InvalidTokenError):
        v.verify("garbage")
    stats = v.stats
    assert isinstance(stats, VerifierStats)
    assert stats.fetches == 1 and stats.fetch_failures == 0
    assert stats.verdicts == {"ok": 1, "expired": 1, "malformed": 1}
    assert stats.rejected == 2 and stats.accepted == 1
    assert stats.keys_cached == 1 and stats.key_set_generation == 1
    assert stats.jwks_uri == f"{ISSUER}/v1/keys"


def test_unexpected_exception_fails_closed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import okta_guard.verify.verifier as module

    tok = token()

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"bug holding {tok}")

    monkeypatch.setattr(module, "check_claims", boom)
    v = verifier()
    with (
        caplog.at_level(logging.DEBUG, logger="okta_guard"),
        pytest.raises(InvalidTokenError) as info,
    ):
        v.verify(tok)
    assert info.value.reason == "internal_error"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert tok not in caplog.text and "RuntimeError" in caplog.text


def test_no_token_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = JwksEndpoint(responses=[])
    v = verifier(endpoint)
    tokens = [token(claims(exp=1)), token(key="b"), token(kid="nope"), token()[:-5]]
    with caplog.at_level(logging.DEBUG, logger="okta_guard"):
        for tok in tokens:
            with pytest.raises(InvalidTokenError) as info:
                v.verify(tok)
            for text in (str(info.value), repr(info.value), info.value.description):
                assert tok[:40] not in text
    for tok in tokens:
        assert tok[:40] not in caplog.text
        assert tok.split(".")[2][:20] not in caplog.text


def test_refresh_failure_is_logged_without_tokens(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    endpoint = JwksEndpoint(responses=[httpx.Response(503)])
    v = verifier(endpoint)
    with (
        caplog.at_level(logging.WARNING, logger="okta_guard"),
        pytest.raises(IssuerUnavailableError),
    ):
        v.verify(token())
    assert "HTTP 503" in caplog.text and "eyJ" not in caplog.text


def test_owned_client_is_closed(okta_issuer_server: MockIssuer) -> None:
    v = TokenVerifier(okta_issuer_server.issuer, okta_issuer_server.audience)
    v.verify(okta_issuer_server.mint_token())
    client = v.key_cache._owned_client
    assert client is not None and not client.is_closed
    v.close()
    assert client.is_closed


@pytest.mark.parametrize(
    "payload",
    [
        claims(),
        claims(aud=["x", AUDIENCE], scp=["a", "", "b"]),
        claims(scp=None, scope="a  b c", cid=None, client_id="c2", sub=None, jti=None),
        claims(scp=["a"], scope="b", exp=NOW + 10.5),
        claims(scp=[]),
    ],
)
def test_fast_access_token_matches_from_claims(payload: dict[str, Any]) -> None:
    import dataclasses

    from okta_guard.models import AccessToken
    from okta_guard.verify import claims as claims_module
    from okta_guard.verify.claims import ClaimRules, check_claims

    assert claims_module._FAST_BUILD  # the shortcut is in use, so this test covers it
    rules = ClaimRules(issuer=ISSUER, audiences=frozenset({AUDIENCE}))
    fast, exp, _ = check_claims(dict(payload), rules, NOW)
    assert type(fast) is AccessToken and fast.is_authenticated
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.issuer = "x"  # type: ignore[misc]
    reference = AccessToken.from_claims(payload)
    for field in dataclasses.fields(AccessToken):
        assert getattr(fast, field.name) == getattr(reference, field.name), field.name
    assert exp == float(payload["exp"])


def test_verified_token_makes_expires_at_on_first_use() -> None:
    import copy
    import dataclasses
    import datetime

    from okta_guard.models import AccessToken

    fast = verifier().verify(token(claims(exp=NOW + 1800.25)))
    assert "expires_at" not in vars(fast)  # not made by verify ...
    expected = datetime.datetime.fromtimestamp(NOW + 1800.25, datetime.timezone.utc)
    assert fast.expires_at == expected and fast.expires_at.tzinfo is datetime.timezone.utc
    assert fast.expires_at is fast.expires_at  # ... made once, then an ordinary attribute
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.expires_at = expected  # type: ignore[misc]
    assert not hasattr(fast, "expires") and not hasattr(fast, "__deepcopy__")
    with pytest.raises(AttributeError, match="'AccessToken' object has no attribute 'exp'"):
        fast.exp  # type: ignore[attr-defined]  # noqa: B018
    other = verifier().verify(token(claims(exp=NOW + 60)))
    assert copy.copy(other).expires_at == other.expires_at  # (claims cannot be pickled)
    assert [getattr(other, f.name) for f in dataclasses.fields(other)][6] == other.expires_at
    assert dataclasses.replace(other, token_id="x").expires_at == other.expires_at
    fresh = verifier().verify(token())
    assert f"expires_at={AccessToken.from_claims(fresh.claims).expires_at!r}" in repr(fresh)
    # Built by hand, the field is required as always.
    with pytest.raises(TypeError):
        AccessToken(  # type: ignore[call-arg]
            claims={}, scopes=frozenset(), client_id=None, subject=None, issuer="i", audience=()
        )


def test_header_cache_is_per_verifier() -> None:
    rs384 = token(header={"alg": "RS384"})
    lenient = verifier(algorithms=("RS256", "RS384"))
    with pytest.raises(InvalidTokenError):
        lenient.verify(rs384)  # signed with RS256, so the signature fails
    strict = verifier()
    with pytest.raises(InvalidTokenError) as info:
        strict.verify(rs384)
    assert info.value.reason == "alg_not_allowed"


def test_from_env_audience_option_wins() -> None:
    v = TokenVerifier.from_env({"OKTA_ISSUER": ISSUER}, audience="api://x")
    assert v.audience == "api://x"


def test_token_cache_survives_concurrent_hits_and_purges() -> None:
    import threading

    from okta_guard.verify.keyset import KeyEntry

    at = verifier().verify(token())
    keys = {f"k{i % 5}": KeyEntry(f"k{i % 5}", "n", "e", None, None) for i in range(5)}  # type: ignore[arg-type]

    def lookup(kid: str, now: float) -> Any:
        return keys.get(kid)

    cache = VerifiedTokenCache(500, leeway=60, current_key=lookup)
    raws = [f"token-{i:04d}".encode() * 3 for i in range(500)]  # distinct last 16 bytes
    for i, raw in enumerate(raws):
        kid = f"k{i % 5}"
        cache.put(cache.verdict(raw.decode(), at, NOW + 3600, float("-inf"), keys[kid]))
    assert len(cache) == 500
    stop = threading.Event()
    errors: list[BaseException] = []

    def hits() -> None:
        try:
            while not stop.is_set():
                for raw in raws:
                    cache.lookup(raw, NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=hits)
    thread.start()
    try:
        for i in range(5):
            cache.purge_kids(frozenset({f"k{i}"}))
    finally:
        stop.set()
        thread.join(10)
    assert not errors
    assert len(cache) == 0


def test_token_cache_hits_are_counted_across_eviction_and_clear() -> None:
    key = _live_key()
    cache = VerifiedTokenCache(1, current_key=lambda kid, now: key)
    first, second = b"A" * 64, b"B" * 64
    cache.put(_verdict(first, key))
    assert cache.lookup(b"Bearer " + first, NOW) is not None
    assert cache.lookup(first.decode(), NOW) is not None
    assert cache.hits == 2
    cache.put(_verdict(second, key))  # full: first, hit since, gets a second chance
    assert cache.find(first) is not None and cache.find(second) is None
    cache.put(_verdict(first, key))  # the same token again replaces its verdict
    assert cache.lookup(first, NOW) is not None
    assert cache.hits == 3
    cache.clear()
    assert cache.hits == 3 and len(cache) == 0


def test_a_verdict_whose_key_lease_ended_asks_the_key_cache() -> None:
    key = _live_key()
    answers: list[Any] = [key]
    cache = VerifiedTokenCache(4, current_key=lambda kid, now: answers[0])
    raw = b"C" * 64
    cache.put(_verdict(raw, key))
    key.lease.until = NOW  # the key set is due for a refresh
    assert cache.lookup(raw, NOW) is not None  # the careful check: the key is still current
    answers[0] = None  # keys unusable or a refresh due: verify in full, keep the entry
    assert cache.lookup(raw, NOW) is None and len(cache) == 1
    answers[0] = _live_key()  # the kid now names another key: the verdict is dropped
    assert cache.lookup(raw, NOW) is None and len(cache) == 0
