"""RevocationCheck: cache per token, single flight, bounded memory, stores, outages and 429s."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from okta_guard import InvalidTokenError, IssuerUnavailableError
from okta_guard.call.shared_seal import answer_sealer, credential_material
from okta_guard.errors import ConfigurationError
from okta_guard.models import AccessToken
from okta_guard.store import MemoryStore
from okta_guard.testing import FakeClock
from okta_guard.verify.introspection import IntrospectionAnswer, check_answer
from okta_guard.verify.revocation import MemoryAnswerStore, RevocationCheck

ISSUER = "https://okta.example.com/oauth2/default"
NOW = 1_800_000_000.0


def access(
    exp: float = NOW + 3600, scopes: tuple[str, ...] = ("a", "b"), cid: str = "svc"
) -> AccessToken:
    return AccessToken.from_claims(
        {"iss": ISSUER, "aud": "api://default", "exp": exp, "cid": cid, "scp": list(scopes)}
    )


def active(token: AccessToken) -> IntrospectionAnswer:
    return IntrospectionAnswer(
        active=True,
        scope=token.scopes,
        client_id=token.client_id,
        exp=token.expires_at.timestamp(),
        iss=ISSUER,
    )


INTROSPECTOR_SECRET = "introspector-secret-" + "q" * 30


class FakeIntrospector:
    """Answers from a script; counts calls; optionally blocks until released.

    Its answers are sealed for a shared store like an ``IntrospectionClient``'s, under a
    key from ``secret``.
    """

    issuer = ISSUER

    def __init__(
        self, answer: IntrospectionAnswer | Exception, secret: str = INTROSPECTOR_SECRET
    ) -> None:
        self.answer_sealer = answer_sealer(credential_material(secret, None), ISSUER)
        self.answer = answer
        self.calls = 0
        self.gate: threading.Event | None = None
        self.async_gate: asyncio.Event | None = None

    def _reply(self) -> IntrospectionAnswer:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def introspect(self, token: str) -> IntrospectionAnswer:
        if self.gate is not None:
            self.gate.wait(5)
        return self._reply()

    async def introspect_async(self, token: str) -> IntrospectionAnswer:
        if self.async_gate is not None:
            await self.async_gate.wait()
        return self._reply()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def make(
    clock: FakeClock, answer: Any, secret: str = INTROSPECTOR_SECRET, **options: Any
) -> tuple[RevocationCheck, FakeIntrospector]:
    fake = FakeIntrospector(answer, secret)
    return RevocationCheck(fake, ISSUER, clock=clock, **options), fake


def test_active_answer_is_cached_30_seconds(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token))
    for _ in range(5):
        assert check.check("tok", token) is token
    assert fake.calls == 1
    clock.advance(29.9)
    check.check("tok", token)
    assert fake.calls == 1
    clock.advance(0.2)
    check.check("tok", token)
    assert fake.calls == 2
    assert check.stats.cache_hits == 5


def test_cache_never_outlives_the_token(clock: FakeClock) -> None:
    token = access(exp=NOW + 10)
    check, fake = make(clock, active(token))
    check.check("tok", token)
    clock.advance(10)
    check.check("tok", token)  # the cached answer ended with exp: asked again
    assert fake.calls == 2


def test_revoked_is_refused_and_remembered(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, IntrospectionAnswer(active=False))
    for _ in range(3):
        with pytest.raises(InvalidTokenError) as info:
            check.check("tok", token)
        assert info.value.reason == "revoked"
    clock.advance(600)  # an inactive answer is final: kept until exp
    with pytest.raises(InvalidTokenError):
        check.check("tok", token)
    assert fake.calls == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": frozenset({"a", "b", "admin"})},
        {"client_id": "other"},
        {"exp": NOW + 7200},
        {"iss": "x"},
    ],
)
def test_answers_that_disagree_with_the_token_are_refused(changes: dict[str, Any]) -> None:
    token = access()
    answer = active(token)
    fields = {**answer.__dict__, **changes}
    with pytest.raises(InvalidTokenError) as info:
        check_answer(IntrospectionAnswer(**fields), token)
    assert info.value.reason == "introspection_mismatch"
    assert check_answer(IntrospectionAnswer(active=True), token) is token


def test_answer_parsing_is_strict() -> None:
    for bad in (
        [],
        {"active": "true"},
        {"active": 1},
        {"active": True, "scope": ["a"]},
        {"active": True, "exp": "1"},
        {"active": True, "exp": float("nan")},
        {"active": True, "client_id": 3},
    ):
        with pytest.raises(ValueError):
            IntrospectionAnswer.from_json(bad)
    parsed = IntrospectionAnswer.from_json({"active": True, "scope": "a b", "exp": 5, "x": 1})
    assert parsed == IntrospectionAnswer(True, frozenset({"a", "b"}), None, 5.0, None)
    assert IntrospectionAnswer.from_json(parsed.to_json()) == parsed


def test_unreachable_fails_closed_with_503(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token))
    check.check("tok", token)
    fake.answer = IssuerUnavailableError(reason="introspection_unreachable")
    clock.advance(31)
    with pytest.raises(IssuerUnavailableError) as info:
        check.check("tok", token)
    assert info.value.status_code == 503
    fake.answer = RuntimeError("boom")  # any other failure is also a 503
    with pytest.raises(IssuerUnavailableError) as info:
        check.check("tok", token)
    assert info.value.reason == "introspection_unavailable"


def test_fallback_serves_the_last_active_answer_within_its_bound(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token), fallback=120.0)
    check.check("tok", token)
    fake.answer = IssuerUnavailableError(reason="introspection_unreachable")
    clock.advance(100)
    assert check.check("tok", token) is token
    clock.advance(50)  # 150 s > 30 + 120: the old answer is too old now
    with pytest.raises(IssuerUnavailableError):
        check.check("tok", token)
    assert check.stats.fallbacks == 1
    # never for a token we have no answer for
    with pytest.raises(IssuerUnavailableError):
        check.check("other", token)


def test_429_stops_requests_until_the_reset(clock: FakeClock) -> None:
    token = access()
    check, fake = make(
        clock, IssuerUnavailableError(retry_after=40, reason="introspection_rate_limited")
    )
    with pytest.raises(IssuerUnavailableError):
        check.check("tok", token)
    fake.answer = active(token)
    clock.advance(20)
    with pytest.raises(IssuerUnavailableError) as info:
        check.check("tok2", token)
    assert info.value.retry_after == pytest.approx(20)
    assert fake.calls == 1  # not asked while rate limited
    clock.advance(21)
    assert check.check("tok2", token) is token
    assert fake.calls == 2
    assert check.stats.rate_limited == 1


def test_single_flight_across_threads(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token))
    fake.gate = threading.Event()
    results: list[object] = []

    def worker() -> None:
        results.append(check.check("tok", token))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    while not check._flights:  # the leader is in flight
        threading.Event().wait(0.001)
    fake.gate.set()
    for t in threads:
        t.join(5)
    assert results == [token] * 8
    assert fake.calls == 1


async def test_single_flight_across_tasks(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token))
    fake.async_gate = asyncio.Event()
    tasks = [asyncio.ensure_future(check.check_async("tok", token)) for _ in range(20)]
    await asyncio.sleep(0)
    fake.async_gate.set()
    assert await asyncio.gather(*tasks) == [token] * 20
    assert fake.calls == 1
    assert not check._flights


async def test_waiters_share_the_leaders_failure(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, IssuerUnavailableError(reason="introspection_timeout"))
    fake.async_gate = asyncio.Event()
    tasks = [asyncio.ensure_future(check.check_async("tok", token)) for _ in range(5)]
    await asyncio.sleep(0)
    fake.async_gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, IssuerUnavailableError) for r in results)
    assert fake.calls == 1


async def test_cancelled_leader_releases_waiters(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token))
    fake.async_gate = asyncio.Event()
    leader = asyncio.ensure_future(check.check_async("tok", token))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(check.check_async("tok", token))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(IssuerUnavailableError):
        await waiter
    assert not check._flights


def test_memory_is_bounded(clock: FakeClock) -> None:
    token = access()
    store = MemoryAnswerStore(maxsize=100, clock=clock)
    check, _fake = make(clock, active(token), store=store)
    for n in range(1000):
        check.check(f"tok{n}", token)
    assert len(store) == 100
    assert not check._flights


class BrokenStore:
    def get(self, key: str) -> bytes | None:
        raise ConnectionError("down")

    def set(self, key: str, value: bytes, ttl: float) -> None:
        raise ConnectionError("down")

    async def get_async(self, key: str) -> bytes | None:
        raise ConnectionError("down")

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        raise ConnectionError("down")


async def test_a_failing_store_is_ignored(clock: FakeClock) -> None:
    token = access()
    check, fake = make(clock, active(token), store=BrokenStore())
    assert check.check("tok", token) is token
    assert await check.check_async("tok", token) is token
    assert fake.calls == 2


class DictStore:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, float] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.data[key] = value
        self.ttls[key] = ttl

    async def get_async(self, key: str) -> bytes | None:
        return self.get(key)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        self.set(key, value, ttl)


async def test_pluggable_store_keeps_no_token_and_ignores_tampering(clock: FakeClock) -> None:
    token = access(exp=NOW + 20)
    store = DictStore()
    check, _fake = make(clock, active(token), store=store)
    await check.check_async("secret-token-value", token)
    ((key, value),) = store.data.items()
    assert "secret-token-value" not in key and b"secret-token-value" not in value
    assert store.ttls[key] == pytest.approx(20)  # never beyond exp
    # a second verifier process sharing the store reuses the answer
    other, other_fake = make(clock, active(token), store=store)
    assert other.check("secret-token-value", token) is token
    assert other_fake.calls == 0
    store.data[key] = b'{"active": tru'  # tampered / corrupt: ignored, Okta asked
    assert other.check("secret-token-value", token) is token
    assert other_fake.calls == 1


def test_introspector_must_match_the_issuer(clock: FakeClock) -> None:
    fake = FakeIntrospector(IntrospectionAnswer(active=False))
    with pytest.raises(ConfigurationError, match="give each verifier"):
        RevocationCheck(fake, "https://other.example.com/oauth2/x", clock=clock)
    with pytest.raises(ConfigurationError):
        RevocationCheck(object(), ISSUER)  # type: ignore[arg-type]


# -- answers in a shared store are sealed ----------------------------------------------------


def stored_plain(active: bool, token: AccessToken, checked_at: float) -> bytes:
    """An answer as an attacker with write access to the store would write it."""
    return json.dumps(
        {
            "active": active,
            "scope": " ".join(sorted(token.scopes)),
            "client_id": token.client_id,
            "exp": token.expires_at.timestamp(),
            "iss": ISSUER,
            "okta_guard_checked_at": checked_at,
        }
    ).encode()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_forged_plaintext_answer_does_not_make_a_revoked_token_active(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = access()
    store = MemoryStore(clock=clock)
    check, fake = make(clock, IntrospectionAnswer(active=False), store=store)
    caplog.set_level(logging.WARNING, "okta_guard")
    forged = stored_plain(True, token, clock())
    store.set(check.key("revoked-token"), forged, 30)
    with pytest.raises(InvalidTokenError) as info:
        check.check("revoked-token", token)
    assert info.value.reason == "revoked"
    store.set(check.key("revoked-token"), forged, 30)
    with pytest.raises(InvalidTokenError) as info:
        await check.check_async("revoked-token", token)
    assert info.value.reason == "revoked"
    assert fake.calls == 2  # each forged entry was a miss: Okta was asked
    found = warnings_of(caplog)
    assert len(found) == 2 and all("failed authentication" in m for m in found)
    assert not any("revoked-token" in m or INTROSPECTOR_SECRET in m for m in found)


def test_a_bit_flipped_entry_is_a_miss(clock: FakeClock) -> None:
    token = access()
    store = MemoryStore(clock=clock)
    check, fake = make(clock, active(token), store=store)
    check.check("tok", token)
    key = check.key("tok")
    sealed = store.get(key)
    assert sealed is not None and b"svc" not in sealed  # sealed: no answer in clear
    for i in (0, 5, len(sealed) // 2, len(sealed) - 1):
        store.set(key, sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :], 30)
        assert check.check("tok", token) is token
    assert fake.calls == 5  # every altered entry sent the check back to Okta
    assert check.stats.cache_hits == 0


def test_an_entry_copied_to_another_tokens_key_is_a_miss(clock: FakeClock) -> None:
    # Two tokens with the same claims: only the binding of the entry to its key tells
    # the active answer of one from the revoked state of the other.
    token = access()
    store = MemoryStore(clock=clock)
    check, fake = make(clock, active(token), store=store)
    assert check.check("active-token", token) is token
    fake.answer = IntrospectionAnswer(active=False)
    copied = store.get(check.key("active-token"))
    assert copied is not None
    store.set(check.key("revoked-token"), copied, 30)
    with pytest.raises(InvalidTokenError) as info:
        check.check("revoked-token", token)
    assert info.value.reason == "revoked"
    assert fake.calls == 2


async def test_replicas_with_the_same_credentials_share_sealed_answers(clock: FakeClock) -> None:
    token = access()
    store = MemoryStore(clock=clock)
    one, one_fake = make(clock, active(token), store=store)
    two, two_fake = make(clock, active(token), store=store)
    assert await one.check_async("tok", token) is token
    assert two.check("tok", token) is token
    assert await two.check_async("tok", token) is token
    assert (one_fake.calls, two_fake.calls) == (1, 0)
    # A process with other credentials cannot open them (nor could it forge them).
    other, other_fake = make(clock, active(token), secret="other-secret-" + "z" * 30, store=store)
    assert other.check("tok", token) is token
    assert other_fake.calls == 1


def test_a_shared_store_needs_an_introspector_that_seals(clock: FakeClock) -> None:
    class Plain:
        issuer = ISSUER

        def introspect(self, token: str) -> IntrospectionAnswer:
            return IntrospectionAnswer(active=True)

        async def introspect_async(self, token: str) -> IntrospectionAnswer:
            return self.introspect(token)

    with pytest.raises(ConfigurationError, match="answer_sealer"):
        RevocationCheck(Plain(), ISSUER, clock=clock, store=MemoryStore(clock=clock))
    RevocationCheck(Plain(), ISSUER, clock=clock)  # the in-process store needs no seal
