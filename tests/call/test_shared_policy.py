"""The fleet single flight as a pure protocol: the generator driven by hand, a fake clock,
no store and no network."""

from __future__ import annotations

import datetime as dt

import pytest

from okta_guard.call.policy import CachedToken, Fatal, Success
from okta_guard.call.shared_policy import (
    FetchToken,
    Pause,
    SharedFlow,
    SharedStats,
    StoreFailure,
    StoreGet,
    StoreHealth,
    StoreLock,
    StoreSet,
    StoreSettings,
    StoreUnlock,
    shared_fetch_flow,
)
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken
from okta_guard.testing import FakeClock

NOW = 1_800_000_000.0
SEALED = b"sealed"


def entry(expires_in: float, refresh_in: float, name: str = "tok") -> CachedToken:
    token = ServiceToken(
        name, "Bearer", dt.datetime.fromtimestamp(NOW + expires_in, dt.timezone.utc), frozenset()
    )
    return CachedToken(token, NOW, NOW + refresh_in, NOW + expires_in)


def success(name: str = "new") -> Success:
    token = ServiceToken(
        name, "Bearer", dt.datetime.fromtimestamp(NOW + 3600, dt.timezone.utc), frozenset()
    )
    return Success(token, NOW + 3600)


def to_entry(outcome: Success) -> CachedToken:
    return CachedToken(outcome.token, NOW, outcome.expires_at - 60, outcome.expires_at)


class Harness:
    def __init__(self, stored: CachedToken | None, **settings: float) -> None:
        self.clock = FakeClock(NOW)
        self.mono = FakeClock(0.0)
        self.stored = stored
        self.stats = SharedStats()
        self.health = StoreHealth(5.0)
        self.settings = StoreSettings(**settings)

    def flow(self) -> SharedFlow:
        def open_entry(value: bytes | None) -> CachedToken | None:
            return self.stored if value == SEALED else None

        return shared_fetch_flow(
            slot="s", lock="l", open_entry=open_entry, seal_entry=lambda e: SEALED,
            to_entry=to_entry, clock=self.clock, monotonic=self.mono,
            settings=self.settings, health=self.health, stats=self.stats,
        )  # fmt: skip

    def value(self) -> bytes | None:
        return SEALED if self.stored is not None else None


def finish(flow: SharedFlow, reply: object) -> CachedToken | Fatal:
    with pytest.raises(StopIteration) as stop:
        flow.send(reply)
    result: CachedToken | Fatal = stop.value.value
    return result


def test_a_fresh_shared_entry_is_used_without_the_lock() -> None:
    h = Harness(entry(3600, 3000))
    flow = h.flow()
    assert next(flow) == StoreGet("s")
    assert finish(flow, h.value()) is h.stored
    assert h.stats.store_hits == 1


def test_the_lock_holder_checks_again_fetches_stores_and_unlocks() -> None:
    h = Harness(None)
    flow = h.flow()
    assert next(flow) == StoreGet("s")
    assert flow.send(None) == StoreLock("l", 10.0)
    assert flow.send("owner") == StoreGet("s")
    assert flow.send(None) == FetchToken()
    put = flow.send(success())
    assert isinstance(put, StoreSet) and put.value == SEALED and put.ttl == 3600
    assert flow.send(None) == StoreUnlock("l", "owner")
    result = finish(flow, True)
    assert isinstance(result, CachedToken) and result.token.access_token == "new"
    assert h.stats.issuer_fetches == 1


def test_refresh_elsewhere_keeps_the_valid_token_and_rechecks_soon() -> None:
    h = Harness(entry(40, 0))  # valid for 40 s, due for refresh
    flow = h.flow()
    next(flow)
    assert flow.send(h.value()) == StoreLock("l", 10.0)
    result = finish(flow, None)  # someone else holds the lock
    assert isinstance(result, CachedToken)
    assert h.stored is not None and result.token is h.stored.token
    assert result.refresh_at == NOW + 0.5


def test_waiting_polls_with_growing_pauses_then_fetches_at_the_bound() -> None:
    h = Harness(None, wait=0.05, poll_min=0.01, poll_max=0.02)
    flow = h.flow()
    next(flow)
    op = flow.send(None)
    pauses = []
    while op != FetchToken():
        if isinstance(op, StoreLock):
            op = flow.send(None)
        elif isinstance(op, Pause):
            pauses.append(op.seconds)
            h.mono.advance(op.seconds)
            op = flow.send(None)
        else:
            assert op == StoreGet("s")
            op = flow.send(None)
    assert pauses[0] == 0.01 and max(pauses) <= 0.02
    assert sum(pauses) == pytest.approx(0.05)
    result = finish(flow, success())
    assert isinstance(result, CachedToken)
    assert h.stats.waits == 1 and h.stats.wait_timeouts == 1


def test_a_token_stored_while_waiting_ends_the_wait() -> None:
    h = Harness(None)
    flow = h.flow()
    next(flow)
    flow.send(None)  # lock
    assert isinstance(flow.send(None), Pause)
    assert flow.send(None) == StoreGet("s")
    h.stored = entry(3600, 3000)
    assert finish(flow, h.value()) is h.stored


def test_a_store_failure_falls_back_to_okta_and_sets_the_store_aside() -> None:
    h = Harness(None)
    flow = h.flow()
    next(flow)
    assert flow.throw(StoreFailure(ConnectionError("down"))) == FetchToken()
    assert isinstance(finish(flow, success()), CachedToken)
    assert not h.health.available(h.mono())
    assert h.stats.store_errors == 1 and h.stats.fallbacks == 1
    # while set aside, the next leader goes straight to Okta
    again = h.flow()
    assert next(again) == FetchToken()
    h.mono.advance(5)
    assert next(h.flow()) == StoreGet("s")


def test_a_failure_after_the_fetch_keeps_the_fetched_token() -> None:
    h = Harness(None)
    flow = h.flow()
    next(flow)
    flow.send(None)
    flow.send("owner")
    flow.send(None)
    assert isinstance(flow.send(success()), StoreSet)
    with pytest.raises(StopIteration) as stop:
        flow.throw(StoreFailure(TimeoutError()))
    assert stop.value.value.token.access_token == "new"  # no second token request


def test_a_fatal_answer_releases_the_lock_and_is_returned() -> None:
    h = Harness(None)
    flow = h.flow()
    next(flow)
    flow.send(None)
    flow.send("owner")
    flow.send(None)
    fatal = Fatal(TokenRequestError("no", error="invalid_client", status_code=401))
    assert flow.send(fatal) == StoreUnlock("l", "owner")
    assert finish(flow, True) is fatal


@pytest.mark.parametrize("bad", ["not-bytes", 3, ["list"]])
def test_a_store_answering_the_wrong_type_is_a_failure(bad: object) -> None:
    h = Harness(None)
    flow = h.flow()
    next(flow)
    assert flow.send(bad) == FetchToken()
    assert h.stats.store_errors == 1


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="lock_ttl"):
        StoreSettings(lock_ttl=0)
    with pytest.raises(ValueError, match="poll"):
        StoreSettings(poll_min=0.5, poll_max=0.1)
    with pytest.raises(ValueError, match="recheck"):
        StoreSettings(recheck=float("nan"))
