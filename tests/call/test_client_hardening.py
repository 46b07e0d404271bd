"""TokenClient against hostile token endpoints (issue 10 defects 2 and 7).

Only :class:`TokenRequestError` may leave the client, lifetimes are clamped to
``MAX_TOKEN_LIFETIME``, bodies are capped while streaming, and a caller - or a thread
waiting for another caller's fetch - has its answer by the client's deadline.
"""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from okta_guard.call.client import MAX_TOKEN_RESPONSE_BYTES, TokenClient
from okta_guard.call.policy import MAX_TOKEN_LIFETIME
from okta_guard.errors import ConfigurationError, TokenRequestError
from okta_guard.testing import FakeClock

ISSUER = "https://dev-123456.okta.com/oauth2/default"
NOW = 1_800_000_000.0


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> TokenClient:
    transport = httpx.MockTransport(handler)
    kwargs.setdefault("sleep", lambda _: None)
    return TokenClient(
        ISSUER,
        "svc",
        "secret",
        scopes=["orders:read"],
        clock=FakeClock(NOW),
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        **kwargs,
    )


def answering(text: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=text, headers={"Content-Type": "application/json"})

    return handler


@pytest.mark.parametrize(
    "expires_in",
    ["1e12", "1e308", "1" + "0" * 400, '"99999999999999"', '"' + "9" * 5000 + '"'],
    ids=["1e12", "1e308", "10**400", "digits-string", "5000-digits-string"],
)
def test_absurd_lifetimes_are_clamped(expires_in: str) -> None:
    body = f'{{"access_token": "abc", "token_type": "Bearer", "expires_in": {expires_in}}}'
    token = client_for(answering(body)).get_token()
    assert token.expires_at.timestamp() == NOW + MAX_TOKEN_LIFETIME


@pytest.mark.parametrize("expires_in", ["Infinity", "NaN", "-Infinity", "0", '"-5"'])
def test_non_finite_lifetimes_are_invalid_responses(expires_in: str) -> None:
    body = f'{{"access_token": "abc", "expires_in": {expires_in}}}'
    with pytest.raises(TokenRequestError) as info:
        client_for(answering(body)).get_token()
    assert info.value.error == "invalid_response"


@pytest.mark.parametrize("status", [200, 400, 500])
def test_deeply_nested_json_is_a_token_request_error(status: int) -> None:
    nested = "[" * 200_000 + "]" * 200_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=nested)

    with pytest.raises(TokenRequestError):
        client_for(handler).get_token()


class _Endless(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body of ``total`` bytes produced 64 KiB at a time (never all in memory)."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(self.total // len(chunk)):
            yield chunk

    async def __aiter__(self) -> Any:
        for chunk in self:
            yield chunk


def _huge(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=_Endless(200 * 1024 * 1024))


def test_a_huge_token_response_is_capped_while_streaming() -> None:
    client = client_for(_huge)
    tracemalloc.start()
    try:
        with pytest.raises(TokenRequestError) as info:
            client.get_token()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.error == "invalid_response"
    assert peak < 8 * MAX_TOKEN_RESPONSE_BYTES


async def test_a_huge_token_response_is_capped_async() -> None:
    client = client_for(_huge)
    with pytest.raises(TokenRequestError) as info:
        await client.get_token_async()
    assert info.value.error == "invalid_response"


def test_a_waiting_thread_gets_its_error_by_the_deadline() -> None:
    entered = threading.Event()
    release = threading.Event()

    def stuck(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(10)
        return httpx.Response(200, json={"access_token": "abc", "expires_in": 60})

    client = client_for(stuck, deadline=0.3)
    leader = threading.Thread(target=client.get_token)
    leader.start()
    assert entered.wait(5)
    try:
        with pytest.raises(TokenRequestError) as info:
            client.get_token()  # waits for the leader's flight, 0.3 s at most
        assert info.value.reason == "deadline"
        assert info.value.status_code == 503
    finally:
        release.set()
        leader.join(10)


async def test_an_async_waiter_gets_its_error_by_the_deadline() -> None:
    import asyncio

    entered = asyncio.Event()
    release = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return httpx.Response(200, json={"access_token": "abc", "expires_in": 60})

    transport = httpx.MockTransport(stuck)
    client = TokenClient(
        ISSUER,
        "svc",
        "secret",
        scopes=["orders:read"],
        clock=FakeClock(NOW),
        async_http_client=httpx.AsyncClient(transport=transport),
        deadline=0.3,
    )
    leader = asyncio.ensure_future(client.get_token_async())
    await entered.wait()  # the leader's request is in flight
    with pytest.raises(TokenRequestError) as info:
        await client.get_token_async()
    assert info.value.reason == "deadline"
    with pytest.raises(TokenRequestError):  # the leader's own deadline cancels its request
        await leader
    release.set()


def test_a_429_wait_beyond_the_deadline_fails_fast() -> None:
    calls: list[int] = []

    def limited(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "20"}, json={"error": "x"})

    slept: list[float] = []
    client = client_for(limited, deadline=5.0, sleep=slept.append)
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    assert info.value.reason == "deadline"
    assert slept == []  # it did not wait 20 s only to fail
    assert len(calls) == 1


@pytest.mark.parametrize(
    "kwargs", [{"deadline": 0}, {"deadline": float("inf")}, {"max_response_bytes": 10}]
)
def test_bounds_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        client_for(answering("{}"), **kwargs)


def test_default_deadline_covers_the_retry_budget() -> None:
    client = client_for(answering(json.dumps({"access_token": "a"})), timeout=1.0)
    assert client.deadline == client.retry.max_retry_wait + client.retry.max_attempts * 1.0


@pytest.mark.parametrize(
    "options",
    [
        {"deadline": 0},
        {"deadline": float("inf")},
        {"deadline": float("nan")},
        {"deadline": True},
        {"max_response_bytes": 1023},
    ],
    ids=["deadline-0", "deadline-inf", "deadline-nan", "deadline-bool", "max-bytes-small"],
)
def test_the_client_refuses_an_unbounded_or_odd_limit(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        TokenClient(ISSUER, "svc", "secret", scopes=["a"], **options)
