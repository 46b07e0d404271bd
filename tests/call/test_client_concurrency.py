"""Single flight: concurrent callers (tasks, threads, and both mixed) cause one token request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from okta_guard.call import token_cache as client_cache
from okta_guard.call.token_cache import Flight
from okta_guard.errors import TokenRequestError
from okta_guard.models import ServiceToken
from tests.support.client_fakes import GatedTransport, make_client, make_okta, spin_until


class WaiterCounter:
    """Counts callers that start waiting for a flight; fires ``on_count`` at ``target``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: int) -> None:
        self.target = target
        self.count = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()
        self.callbacks: list[Callable[[], None]] = []
        original_wait = Flight.wait
        original_wait_async = Flight.wait_async
        counter = self

        def wait(flight: Flight[Any], timeout: float | None) -> bool:
            counter.bump()
            return original_wait(flight, timeout)

        async def wait_async(flight: Flight[Any], timeout: float | None) -> bool:
            counter.bump()
            return await original_wait_async(flight, timeout)

        monkeypatch.setattr(client_cache.Flight, "wait", wait)
        monkeypatch.setattr(client_cache.Flight, "wait_async", wait_async)

    def bump(self) -> None:
        with self.lock:
            self.count += 1
            if self.count != self.target:
                return
        self.reached.set()
        for callback in self.callbacks:
            callback()


async def test_1000_concurrent_tasks_make_one_token_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate)
    counter = WaiterCounter(monkeypatch, target=999)
    counter.callbacks.append(gate.open)
    tokens = await asyncio.gather(*(client.get_token_async() for _ in range(1000)))
    assert counter.count == 999
    assert okta.count("token") == 1
    assert gate.calls == 1
    assert len({id(t) for t in tokens}) == 1


def test_50_threads_make_one_token_request(monkeypatch: pytest.MonkeyPatch) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate)
    counter = WaiterCounter(monkeypatch, target=49)
    counter.callbacks.append(gate.open)
    barrier = threading.Barrier(50)

    def worker() -> ServiceToken:
        barrier.wait()
        return client.get_token()

    with ThreadPoolExecutor(max_workers=50) as pool:
        tokens = list(pool.map(lambda _: worker(), range(50)))
    assert counter.count == 49
    assert okta.count("token") == 1
    assert len({id(t) for t in tokens}) == 1


async def test_tasks_wait_for_a_thread_without_blocking_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate)
    counter = WaiterCounter(monkeypatch, target=100)
    loop = asyncio.get_running_loop()
    thread_result: list[ServiceToken] = []
    leader = threading.Thread(target=lambda: thread_result.append(client.get_token()))
    leader.start()
    await loop.run_in_executor(None, gate.entered.wait)
    tasks = [asyncio.ensure_future(client.get_token_async()) for _ in range(100)]
    # The loop keeps running while the thread fetches: the tasks get to wait.
    await spin_until(counter.reached.is_set)
    assert not any(t.done() for t in tasks)
    gate.open()
    tokens = await asyncio.gather(*tasks)
    await loop.run_in_executor(None, leader.join)
    assert okta.count("token") == 1
    assert {id(t) for t in tokens} == {id(thread_result[0])}


async def test_a_thread_waits_for_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate)
    counter = WaiterCounter(monkeypatch, target=1)
    counter.callbacks.append(gate.open)
    loop = asyncio.get_running_loop()
    leader = asyncio.ensure_future(client.get_token_async())
    await spin_until(gate.entered.is_set)
    from_thread = await loop.run_in_executor(None, client.get_token)
    assert await leader is from_thread
    assert okta.count("token") == 1


async def test_sync_call_on_the_loop_of_an_async_leader_does_not_deadlock() -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate)
    client._http_client = okta.http_client()  # the sync path is not gated
    leader = asyncio.ensure_future(client.get_token_async())
    await spin_until(gate.entered.is_set)
    sync_token = client.get_token()  # blocking call inside the loop: fetches on its own
    gate.open()
    assert (await leader).access_token
    assert sync_token.access_token
    assert okta.count("token") == 2


async def test_cancelled_leader_hands_over_to_a_waiter(monkeypatch: pytest.MonkeyPatch) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport, gated=1)
    client = make_client(okta, transport=gate)
    counter = WaiterCounter(monkeypatch, target=10)
    leader = asyncio.ensure_future(client.get_token_async())
    await spin_until(gate.entered.is_set)
    waiters = [asyncio.ensure_future(client.get_token_async()) for _ in range(10)]
    await spin_until(counter.reached.is_set)
    leader.cancel()
    tokens = await asyncio.gather(*waiters)
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert len({id(t) for t in tokens}) == 1
    assert gate.calls == 2  # the cancelled fetch and the one a waiter led


async def test_waiters_share_the_leaders_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    okta = make_okta()
    gate = GatedTransport(okta.transport)
    client = make_client(okta, transport=gate, secret="wrong")
    counter = WaiterCounter(monkeypatch, target=20)
    counter.callbacks.append(gate.open)
    results: list[Any] = await asyncio.gather(
        *(client.get_token_async() for _ in range(21)), return_exceptions=True
    )
    assert all(isinstance(r, TokenRequestError) for r in results)
    assert {r.error for r in results} == {"invalid_client"}
    assert len({id(r) for r in results}) == 21  # each caller gets its own exception object
    assert okta.count("token") == 1


async def test_refresh_in_flight_serves_the_old_token() -> None:
    from okta_guard.testing import FakeClock

    clock = FakeClock()
    okta = make_okta(clock)
    gate = GatedTransport(okta.transport, gated=0)
    client = make_client(okta, clock, transport=gate)
    old = await client.get_token_async()
    clock.advance(3600 - 30)
    gate.gated, gate.calls = 1, 0
    refresher = asyncio.ensure_future(client.get_token_async())
    await spin_until(gate.entered.is_set)
    # While one caller refreshes, everyone else gets the still-valid token at once.
    assert await client.get_token_async() is old
    assert client.get_token() is old
    gate.open()
    new = await refresher
    assert new is not old
    assert await client.get_token_async() is new
