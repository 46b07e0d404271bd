"""The sans-IO key cache policy, key set parsing and fetch flow: pure, with a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from okta_guard.testing import FakeClock
from okta_guard.verify.discovery import HttpRequest, HttpResponse
from okta_guard.verify.key_policy import (
    Fetch,
    FetchFailure,
    KeyCachePolicy,
    KeysFetched,
    PolicyConfig,
    Reject,
    Unavailable,
    Use,
    interpret_jwks_response,
    key_fetch_flow,
    ttl_from_cache_control,
)
from okta_guard.verify.keyset import InvalidKeySetError, KeySetContent, parse_key_set
from tests.support.verifier_helpers import ISSUER, jwk

ALGS = frozenset({"RS256"})
T0 = 1_800_000_000.0


def content(*keys: dict[str, Any], previous: Any = None) -> KeySetContent:
    body = json.dumps({"keys": list(keys)}).encode()
    return parse_key_set(body, algorithms=ALGS, previous=previous)


def loaded(
    clock: FakeClock, config: PolicyConfig | None = None, ttl: float = 3600
) -> KeyCachePolicy:
    policy = KeyCachePolicy(config, rand=lambda: 1.0)
    assert policy.lookup(clock(), "kid-a") == Fetch(start=True)
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a")), ttl)
    return policy


# -- single flight and first fetch -------------------------------------------------------


def test_first_lookup_starts_one_fetch_and_others_join() -> None:
    policy = KeyCachePolicy()
    assert policy.lookup(T0, "kid-a") == Fetch(start=True)
    for _ in range(50):
        assert policy.lookup(T0, "kid-a") == Fetch(start=False)
    assert policy.fetches == 1
    policy.fetch_succeeded(T0, content(jwk("a", "kid-a")), 3600)
    decision = policy.lookup(T0, "kid-a")
    assert isinstance(decision, Use)
    assert decision.entry.kid == "kid-a"
    assert not decision.stale and not decision.refresh


def test_waiter_never_gets_a_second_fetch() -> None:
    policy = KeyCachePolicy()
    policy.lookup(T0, "kid-x")
    policy.fetch_failed(T0)
    assert isinstance(policy.lookup(T0, "kid-x", allow_fetch=False), Unavailable)
    clock_later = T0 + 10_000
    assert isinstance(policy.lookup(clock_later, "kid-x", allow_fetch=False), Unavailable)


def test_abandoned_flight_does_not_block_forever() -> None:
    policy = KeyCachePolicy(PolicyConfig(flight_timeout=60))
    assert policy.lookup(T0, "k") == Fetch(start=True)
    assert policy.lookup(T0 + 59, "k") == Fetch(start=False)
    assert policy.lookup(T0 + 61, "k") == Fetch(start=True)


# -- unknown kids ------------------------------------------------------------------------


def test_unknown_kid_refetches_at_most_once_per_cooldown() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    assert policy.lookup(clock(), "new-1") == Reject("unknown_kid")  # fetched just now
    clock.advance(30)
    assert policy.lookup(clock(), "new-1") == Fetch(start=True)
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a")), 3600)
    assert policy.lookup(clock(), "new-1", allow_fetch=False) == Reject("unknown_kid")
    clock.advance(29)
    assert policy.lookup(clock(), "new-2") == Reject("unknown_kid")
    assert policy.fetches == 2


def test_flood_of_random_kids_costs_one_fetch_per_cooldown_and_known_kid_unaffected() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    clock.advance(31)
    fetches_before = policy.fetches
    started = 0
    for i in range(2000):
        decision = policy.lookup(clock(), f"random-{i}")
        if decision == Fetch(start=True):
            started += 1
            # The known kid never waits, even with a fetch in flight.
            assert isinstance(policy.lookup(clock(), "kid-a"), Use)
            policy.fetch_succeeded(clock(), content(jwk("a", "kid-a")), 3600)
        else:
            assert decision in (Reject("unknown_kid"), Fetch(start=False))
        assert isinstance(policy.lookup(clock(), "kid-a"), Use)
    assert started == 1
    assert policy.fetches == fetches_before + 1
    assert policy.remembered_unknown() <= policy.config.unknown_kid_memory


def test_remembered_unknown_kid_does_not_refetch_after_cooldown() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock, PolicyConfig(remember_unknown_for=300))
    clock.advance(31)
    assert policy.lookup(clock(), "ghost") == Fetch(start=True)
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a")), 3600)
    policy.lookup(clock(), "ghost", allow_fetch=False)
    clock.advance(60)  # cooldown over, but the kid was just confirmed absent
    assert policy.lookup(clock(), "ghost") == Reject("unknown_kid")
    clock.advance(300)
    assert policy.lookup(clock(), "ghost") == Fetch(start=True)


def test_unknown_kid_memory_is_bounded() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock, PolicyConfig(unknown_kid_memory=10))
    for i in range(500):
        policy.lookup(clock(), f"k{i}", allow_fetch=False)
    assert policy.remembered_unknown() == 10
    assert policy.unknown_kids == 500


def test_new_kid_appears_after_refetch() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    clock.advance(30)
    assert policy.lookup(clock(), "kid-b") == Fetch(start=True)
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a"), jwk("b", "kid-b")), 3600)
    assert isinstance(policy.lookup(clock(), "kid-b", allow_fetch=False), Use)


def test_ambiguous_and_unusable_kids_are_rejected_without_fetch() -> None:
    clock = FakeClock(T0)
    policy = KeyCachePolicy()
    policy.lookup(clock(), "x")
    small = jwk("small", "kid-small", bits=1024)
    policy.fetch_succeeded(
        clock(), content(jwk("a", "dup"), jwk("b", "dup"), small, jwk("a", "kid-a")), 3600
    )
    clock.advance(100)
    assert policy.lookup(clock(), "dup") == Reject("ambiguous_kid")
    assert policy.lookup(clock(), "kid-small") == Reject("unusable_key")
    assert policy.fetches == 1


# -- time to live, refresh ahead, staleness ----------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 3600),
        ("", 3600),
        ("max-age=3801600, must-revalidate", 86400),
        ("max-age=10", 300),
        ("public, max-age=7200", 7200),
        ('max-age="900"', 900),
        ("no-store", 300),
        ("no-cache, max-age=9000", 300),
        ("s-maxage=100", 3600),
        ("max-age=abc", 3600),
    ],
)
def test_ttl_from_cache_control(header: str | None, expected: float) -> None:
    assert ttl_from_cache_control(header, PolicyConfig()) == expected


def test_refresh_ahead_of_expiry_goes_to_one_caller() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock, ttl=1000)
    clock.advance(799)
    assert isinstance(policy.lookup(clock(), "kid-a"), Use)
    assert not policy.lookup(clock(), "kid-a").refresh  # type: ignore[union-attr]
    clock.advance(1)
    first = policy.lookup(clock(), "kid-a")
    second = policy.lookup(clock(), "kid-a")
    assert isinstance(first, Use) and first.refresh and not first.stale
    assert isinstance(second, Use) and not second.refresh


def test_failed_refresh_keeps_keys_serves_stale_then_gives_up() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock, PolicyConfig(max_stale=600), ttl=1000)
    clock.advance(1001)
    decision = policy.lookup(clock(), "kid-a")
    assert isinstance(decision, Use) and decision.stale and decision.refresh
    delay = policy.fetch_failed(clock())
    assert delay == 2.0  # backoff base with rand=1.0
    decision = policy.lookup(clock(), "kid-a")
    assert isinstance(decision, Use) and decision.stale and not decision.refresh
    assert policy.stale_serves == 2
    assert policy.fetch_failures == 1
    clock.advance(600)  # 1601 s after the fetch: past ttl + max_stale
    assert policy.lookup(clock(), "kid-a") == Fetch(start=True)
    policy.fetch_failed(clock())
    assert isinstance(policy.lookup(clock(), "kid-a", allow_fetch=False), Unavailable)


def test_backoff_grows_and_honours_retry_after() -> None:
    clock = FakeClock(T0)
    policy = KeyCachePolicy(PolicyConfig(backoff_base=2, backoff_cap=60), rand=lambda: 1.0)
    delays = []
    for _ in range(7):
        assert policy.lookup(clock(), "k") == Fetch(start=True)
        delays.append(policy.fetch_failed(clock()))
        unavailable = policy.lookup(clock(), "k")
        assert isinstance(unavailable, Unavailable)
        assert unavailable.retry_after == pytest.approx(delays[-1])
        clock.advance(delays[-1])
    assert delays == [2, 4, 8, 16, 32, 60, 60]
    assert policy.lookup(clock(), "k") == Fetch(start=True)
    assert policy.fetch_failed(clock(), retry_after=120) == 120


def test_success_resets_backoff_and_bumps_generation_only_on_change() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    generation = policy.generation
    assert generation == 1
    old_entry = policy.keys["kid-a"]
    clock.advance(40)
    policy.begin_refresh(clock())
    removed = policy.fetch_succeeded(
        clock(), content(jwk("a", "kid-a"), previous=policy.keys), 3600
    )
    assert removed == frozenset()
    assert policy.generation == generation
    assert policy.keys["kid-a"] is old_entry
    policy.begin_refresh(clock())
    removed = policy.fetch_succeeded(clock(), content(jwk("b", "kid-b")), 3600)
    assert removed == {"kid-a"}
    assert policy.generation == generation + 1
    assert "kid-a" not in policy.keys


# -- key set parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"kty": "EC"},
        {"kty": "oct"},
        {"use": "enc"},
        {"alg": "HS256"},
        {"alg": "RS384"},
        {"alg": "none"},
        {"key_ops": ["encrypt"]},
        {"key_ops": "verify"},
        {"e": "AQAA"},  # even exponent
        {"e": "Ag"},
        {"n": "AQAB"},  # tiny modulus
        {"n": "not base64!"},
        {"n": 12345},
        {"e": None},
    ],
)
def test_unusable_jwks_entries_are_ignored(overrides: dict[str, Any]) -> None:
    parsed = content(jwk("a", "kid-x", **overrides), jwk("b", "kid-b"))
    assert set(parsed.keys) == {"kid-b"}
    assert parsed.unusable == {"kid-x"}


def test_rsa_key_below_2048_bits_is_ignored() -> None:
    parsed = content(jwk("small", "kid-small", bits=1024))
    assert parsed.keys == {}
    assert "kid-small" in parsed.unusable


def test_alg_absent_and_use_absent_are_fine() -> None:
    parsed = content(jwk("a", "kid-a", alg=None, use=None))
    assert set(parsed.keys) == {"kid-a"}
    assert parsed.keys["kid-a"].alg is None


def test_duplicate_kids_are_ambiguous() -> None:
    parsed = content(jwk("a", "dup"), jwk("a", "dup"), jwk("b", "kid-b"))
    assert parsed.ambiguous == {"dup"}
    assert set(parsed.keys) == {"kid-b"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"keys": {}}',
        b'{"nokeys": []}',
        b'{"keys": [1, 2]' + b"]",
        json.dumps({"keys": [{"kty": "RSA"}] * 101}).encode(),
    ],
)
def test_garbage_key_sets(body: bytes) -> None:
    with pytest.raises(InvalidKeySetError):
        parse_key_set(body, algorithms=ALGS)


def test_non_dict_entries_and_kidless_keys_are_skipped() -> None:
    parsed = content(jwk("a", "kid-a"), "junk", 5, jwk("b", kid=None))  # type: ignore[arg-type]
    assert set(parsed.keys) == {"kid-a"}


# -- interpreting responses and the fetch flow -------------------------------------------


def interpret(response: HttpResponse) -> Any:
    return interpret_jwks_response(
        response,
        now=T0,
        config=PolicyConfig(),
        algorithms=ALGS,
        previous={},
        jwks_uri=f"{ISSUER}/v1/keys",
    )


def test_interpret_ok_with_ttl() -> None:
    body = json.dumps({"keys": [jwk()]}).encode()
    outcome = interpret(HttpResponse(200, {"cache-control": "max-age=600"}, body))
    assert isinstance(outcome, KeysFetched)
    assert outcome.ttl == 600


def test_interpret_rate_limited_uses_okta_reset_header() -> None:
    outcome = interpret(HttpResponse(429, {"x-rate-limit-reset": str(int(T0) + 45)}))
    assert isinstance(outcome, FetchFailure)
    assert outcome.retry_after == 45


def test_interpret_503_with_retry_after() -> None:
    outcome = interpret(HttpResponse(503, {"retry-after": "12"}))
    assert isinstance(outcome, FetchFailure) and outcome.retry_after == 12


@pytest.mark.parametrize(
    "response",
    [
        HttpResponse(0, error="timeout"),
        HttpResponse(0, error="too_large"),
        HttpResponse(200, {}, b"<html>"),
        HttpResponse(302, {"location": "https://evil.example/keys"}),
        HttpResponse(404),
    ],
)
def test_interpret_failures(response: HttpResponse) -> None:
    assert isinstance(interpret(response), FetchFailure)


def drive(flow: Any, answers: dict[str, HttpResponse]) -> tuple[Any, list[str]]:
    asked: list[str] = []
    try:
        request: HttpRequest = next(flow)
        while True:
            asked.append(request.url)
            request = flow.send(answers.get(request.url, HttpResponse(404)))
    except StopIteration as stop:
        return stop.value, asked


def flow(jwks_uri: str | None = None) -> Any:
    return key_fetch_flow(
        ISSUER, jwks_uri, now=T0, config=PolicyConfig(), algorithms=ALGS, previous={}
    )


KEYS_BODY = json.dumps({"keys": [jwk()]}).encode()


def test_flow_discovers_then_fetches() -> None:
    meta = json.dumps({"issuer": ISSUER, "jwks_uri": f"{ISSUER}/v1/keys"}).encode()
    outcome, asked = drive(
        flow(),
        {
            f"{ISSUER}/.well-known/oauth-authorization-server": HttpResponse(200, {}, meta),
            f"{ISSUER}/v1/keys": HttpResponse(200, {}, KEYS_BODY),
        },
    )
    assert isinstance(outcome, KeysFetched) and outcome.jwks_uri_final
    assert asked == [f"{ISSUER}/.well-known/oauth-authorization-server", f"{ISSUER}/v1/keys"]


def test_flow_with_explicit_jwks_uri_skips_discovery() -> None:
    uri = "https://keys.example.com/jwks"
    outcome, asked = drive(flow(uri), {uri: HttpResponse(200, {}, KEYS_BODY)})
    assert isinstance(outcome, KeysFetched)
    assert asked == [uri]


def test_flow_unreachable_discovery_fails_fast() -> None:
    outcome, asked = drive(
        flow(),
        {f"{ISSUER}/.well-known/oauth-authorization-server": HttpResponse(0, error="timeout")},
    )
    assert isinstance(outcome, FetchFailure)
    assert len(asked) == 1


def test_key_set_document_may_end_with_a_newline() -> None:
    body = b"\n  " + json.dumps({"keys": [jwk()]}, indent=2).encode() + b"\n"
    assert set(parse_key_set(body, algorithms=ALGS).keys) == {"kid-a"}


def test_unknown_kid_while_refreshes_fail_is_unavailable_not_invalid() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    clock.advance(31)
    assert policy.lookup(clock(), "new-kid") == Fetch(start=True)
    policy.fetch_failed(clock())
    assert isinstance(policy.lookup(clock(), "new-kid", allow_fetch=False), Unavailable)
    assert isinstance(policy.lookup(clock(), "kid-a"), Use)  # known kids keep working
    clock.advance(31)
    assert policy.lookup(clock(), "new-kid") == Fetch(start=True)
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a")), 3600)
    assert policy.lookup(clock(), "new-kid", allow_fetch=False) == Reject("unknown_kid")


def test_leases_follow_the_installed_key_set() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    entry = policy.keys["kid-a"]
    assert entry.lease.until == policy.refresh_at  # fresh until the set's refresh time
    assert not entry.lease.until > policy.expires_at
    clock.advance(40)
    policy.begin_refresh(clock())
    policy.fetch_succeeded(clock(), content(jwk("a", "kid-a"), previous=policy.keys), 3600)
    assert policy.keys["kid-a"] is entry
    assert entry.lease.until == policy.refresh_at  # renewed with the set
    policy.begin_refresh(clock())
    policy.fetch_succeeded(clock(), content(jwk("b", "kid-b")), 3600)
    assert entry.lease.until == float("-inf")  # left the set: over at once
    assert policy.keys["kid-b"].lease.until == policy.refresh_at


def test_a_changed_key_under_the_same_kid_loses_its_lease() -> None:
    clock = FakeClock(T0)
    policy = loaded(clock)
    entry = policy.keys["kid-a"]
    policy.begin_refresh(clock())
    removed = policy.fetch_succeeded(clock(), content(jwk("b", "kid-a")), 3600)
    assert removed == {"kid-a"}
    assert entry.lease.until == float("-inf")
    assert policy.keys["kid-a"] is not entry
    assert policy.keys["kid-a"].lease.until == policy.refresh_at
