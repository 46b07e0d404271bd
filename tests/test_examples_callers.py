"""examples/service_caller.py against the mock issuer and examples/starlette_app.py.

Sync: everything over real loopback sockets (mock issuer server, the example API
on uvicorn).  Async: everything in-process (mock transport, ``httpx.ASGITransport``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from examples import service_caller, starlette_app

from okta_guard import TokenVerifier
from okta_guard.demo.api import DemoApiServer
from okta_guard.testing import MockIssuer

SECRET = "caller-secret-value"


@pytest.fixture
def okta(okta_issuer_server: MockIssuer) -> MockIssuer:
    okta_issuer_server.register_client("svc", SECRET, scopes=["orders:read", "orders:write"])
    okta_issuer_server.register_client("reader", SECRET, scopes=["orders:read"])
    return okta_issuer_server


@pytest.fixture
def api_url(okta: MockIssuer) -> Iterator[str]:
    pytest.importorskip("uvicorn")
    verifier = TokenVerifier(okta.issuer, okta.audience)
    with DemoApiServer(starlette_app.create_app(verifier), use_uvicorn=True) as server:
        yield server.base_url
    verifier.close()


def test_sync_caller_over_loopback(okta: MockIssuer, api_url: str) -> None:
    result = service_caller.call_orders(okta.issuer, "svc", SECRET, api_url)
    assert result["orders"] == {"orders": [{"id": 1, "item": "coffee"}], "client": "svc"}
    assert result["created"] == {"id": 2, "item": "tea"}
    assert okta.count("token") == 1  # one token for both requests


def test_sync_caller_without_the_scope_gets_403(okta: MockIssuer, api_url: str) -> None:
    with pytest.raises(httpx.HTTPStatusError) as info:
        service_caller.call_orders(okta.issuer, "reader", SECRET, api_url, scopes=["orders:read"])
    assert info.value.response.status_code == 403
    assert 'error="insufficient_scope"' in info.value.response.headers["www-authenticate"]


def test_main_reads_the_environment(
    okta: MockIssuer, api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "OKTA_ISSUER": okta.issuer,
        "OKTA_CLIENT_ID": "svc",
        "OKTA_CLIENT_SECRET": SECRET,
        "OKTA_SCOPES": "orders:read,orders:write",
        "ORDERS_API_URL": api_url,
    }
    assert service_caller.main([], env) == 0
    assert service_caller.main(["--async"], env) == 0
    out = capsys.readouterr().out
    assert out.count("created: {'id': 2, 'item': 'tea'}") == 2
    assert SECRET not in out
    assert okta.count("token") == 2  # one per run (each run has its own TokenClient)


def test_main_says_what_is_missing() -> None:
    with pytest.raises(SystemExit, match="set OKTA_CLIENT_ID, OKTA_CLIENT_SECRET"):
        service_caller.main([], {"OKTA_ISSUER": "https://dev-123456.okta.com/oauth2/default"})


async def test_async_caller_in_process(okta_issuer: MockIssuer) -> None:
    okta_issuer.register_client("svc", SECRET, scopes=["orders:read", "orders:write"])
    async with okta_issuer.async_http_client() as okta_http:
        verifier = TokenVerifier(
            okta_issuer.issuer, okta_issuer.audience, async_http_client=okta_http
        )
        app = starlette_app.create_app(verifier)
        result = await service_caller.call_orders_async(
            okta_issuer.issuer,
            "svc",
            SECRET,
            "http://orders.test",
            transport=httpx.ASGITransport(app=app),
            async_http_client=okta_http,
        )
    assert result["orders"]["client"] == "svc"
    assert result["created"] == {"id": 2, "item": "tea"}
    # two concurrent GETs, one token request; one key fetch for the API
    assert okta_issuer.count("token") == 1
    assert okta_issuer.count("keys") == 1
