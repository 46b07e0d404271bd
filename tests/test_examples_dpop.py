"""examples/dpop_other_clients.py: requests and aiohttp calling a DPoP API with our proofs."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest
import requests
from examples.dpop_other_clients import get_with_requests, post_with_aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_guard import OktaGuardMiddleware, TokenClient, TokenVerifier
from okta_guard.demo.api import DemoApiServer
from okta_guard.testing import MockIssuer

SECRET = "example-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[MockIssuer, str, list[int]]]:
    statuses: list[int] = []

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"scheme": request.user.scheme, "method": request.method})

    with MockIssuer() as okta:
        okta.register_client("dpop-svc", SECRET, scopes=["orders:read"], dpop=True)
        verifier = TokenVerifier(okta.issuer, okta.audience, dpop="required", dpop_nonce=True)
        inner = Starlette(routes=[Route("/orders", orders, methods=["GET", "POST"])])
        app = OktaGuardMiddleware(inner, verifier=verifier)

        async def counting(scope, receive, send):  # type: ignore[no-untyped-def]
            async def record(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])
                await send(message)

            await app(scope, receive, record)

        with DemoApiServer(counting, use_uvicorn=True) as server:
            yield okta, server.base_url, statuses


def test_requests_example(setup: tuple[MockIssuer, str, list[int]]) -> None:
    okta, api, statuses = setup
    statuses.clear()
    client = TokenClient(okta.issuer, "dpop-svc", SECRET, scopes=["orders:read"])
    with requests.Session() as session:
        assert get_with_requests(client, f"{api}/orders", session) == {
            "scheme": "DPoP",
            "method": "GET",
        }
        assert get_with_requests(client, f"{api}/orders?page=2", session)["scheme"] == "DPoP"
    assert statuses == [401, 200, 200]  # one nonce retry, then the nonce is remembered
    client.close()


async def test_aiohttp_example(setup: tuple[MockIssuer, str, list[int]]) -> None:
    okta, api, statuses = setup
    statuses.clear()
    client = TokenClient(okta.issuer, "dpop-svc", SECRET, scopes=["orders:read"])
    async with aiohttp.ClientSession() as session:
        body = await post_with_aiohttp(client, f"{api}/orders", {"item": "tea"}, session)
    assert body == {"scheme": "DPoP", "method": "POST"}
    assert statuses == [401, 200]
    await client.aclose()
