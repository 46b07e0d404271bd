"""TokenClient with its own httpx clients against a real loopback mock issuer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from okta_guard import TokenClient
from okta_guard.testing import MockIssuer

SECRET = "loopback-secret-0123456789-abcdefgh"


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=["orders:read"])
        yield server


async def test_owned_clients_sync_and_async(okta: MockIssuer) -> None:
    async with TokenClient(okta.issuer, "svc", SECRET, scopes=["orders:read"]) as client:
        token = await client.get_token_async()
        assert client.get_token() is token
        assert client.cached_token is token
    assert client._fetcher.http._owned_async is None
    assert client._fetcher.http._owned_sync is None


def test_owned_async_client_follows_the_event_loop(okta: MockIssuer) -> None:
    client = TokenClient(okta.issuer, "svc", SECRET, scopes=["orders:read"])
    first = asyncio.run(client.get_token_async(force_refresh=True))
    second = asyncio.run(client.get_token_async(force_refresh=True))  # a new loop: new client
    assert first.access_token != second.access_token
    client.close()


def test_from_domain_with_a_loopback_domain(okta: MockIssuer) -> None:
    with TokenClient.from_domain(
        f"127.0.0.1:{okta.port}", "svc", SECRET, scopes=["orders:read"]
    ) as client:
        assert client.issuer == okta.issuer
        assert client.get_token().token_type == "Bearer"
