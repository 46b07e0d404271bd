"""client.auth (httpx.Auth): bearer header, one retry after a 401 for idempotent methods only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from okta_guard.call.client import TokenClient
from okta_guard.call.httpx_auth import TokenAuth
from okta_guard.errors import TokenRequestError
from okta_guard.testing import FakeClock, MockIssuer
from tests.support.client_fakes import make_client, make_okta


class FakeApi:
    """A protected API: accepts tokens the mock issued, except those marked refused."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.seen: list[tuple[str, str | None, bytes]] = []
        self.always_401 = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        self.seen.append((request.method, auth, request.content))
        token = auth.split(" ", 1)[1] if auth else None
        if token is None or token in self.refused or self.always_401:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, json={"ok": True})


Setup = tuple[MockIssuer, TokenClient, FakeApi]


@pytest.fixture
def setup() -> Setup:
    okta = make_okta()
    client = make_client(okta)
    api = FakeApi()
    return okta, client, api


def test_auth_is_an_httpx_auth_and_reused(setup: Setup) -> None:
    _, client, _ = setup
    assert isinstance(client.auth, httpx.Auth)
    assert isinstance(client.auth, TokenAuth)
    assert client.auth is client.auth
    assert "s3cr3t" not in repr(client.auth)


def test_adds_the_bearer_token(setup: Setup) -> None:
    okta, client, api = setup
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        assert http.get("https://api.example/orders").status_code == 200
        assert http.get("https://api.example/orders").status_code == 200
    token = client.get_token()
    assert api.seen[0][1] == f"Bearer {token.access_token}"
    assert okta.count("token") == 1


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])
def test_401_retries_once_with_a_fresh_token_for_idempotent_methods(
    setup: Setup, method: str
) -> None:
    okta, client, api = setup
    stale = client.get_token()
    api.refused.add(stale.access_token)
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        response = http.request(method, "https://api.example/orders/1", content=b"{}")
    assert response.status_code == 200
    assert len(api.seen) == 2
    assert api.seen[0][1] != api.seen[1][1]
    assert api.seen[1][2] == b"{}"  # the body was replayed
    assert okta.count("token") == 2


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_401_is_not_retried_for_non_idempotent_methods(setup: Setup, method: str) -> None:
    okta, client, api = setup
    api.always_401 = True
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        response = http.request(method, "https://api.example/orders", json={"n": 1})
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert okta.count("token") == 1


def test_401_twice_gives_up_after_one_retry(setup: Setup) -> None:
    _, client, api = setup
    api.always_401 = True
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        response = http.get("https://api.example/orders")
    assert response.status_code == 401
    assert len(api.seen) == 2
    assert len(response.history) == 1


def test_api_refusing_every_token_does_not_hammer_okta() -> None:
    clock = FakeClock()
    okta = make_okta(clock)
    client = make_client(okta, clock)
    api = FakeApi()
    api.always_401 = True
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        for _ in range(5):
            assert http.get("https://api.example/orders").status_code == 401
        assert okta.count("token") == 2  # one forced refresh, then no more for 30 s
        assert len(api.seen) == 6
        clock.advance(31)
        assert http.get("https://api.example/orders").status_code == 401
    assert okta.count("token") == 3
    assert len(api.seen) == 8


def test_concurrent_401s_share_the_refreshed_token(setup: Setup) -> None:
    okta, client, api = setup
    stale = client.get_token()
    api.refused.add(stale.access_token)
    # A request picks up the stale token ...
    flow = client.auth.sync_auth_flow(httpx.Request("GET", "https://api.example/b"))
    request = next(flow)
    assert request.headers["Authorization"] == stale.authorization
    # ... meanwhile another request gets a 401 and forces a refresh ...
    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        assert http.get("https://api.example/a").status_code == 200
    # ... so the first one's 401 is retried with the new token, without another refresh.
    retry = flow.send(httpx.Response(401, request=request))
    assert retry.headers["Authorization"] == client.get_token().authorization != stale.authorization
    assert okta.count("token") == 2


def test_streaming_body_is_not_replayed(setup: Setup) -> None:
    _, client, api = setup
    api.always_401 = True

    def body() -> Iterator[bytes]:
        yield b"chunk"

    with httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http:
        response = http.put("https://api.example/upload", content=body())
    assert response.status_code == 401
    assert len(api.seen) == 1


def test_request_is_never_sent_without_a_token(setup: Setup) -> None:
    okta, client, api = setup
    okta.register_client("svc", "rotated-secret", scopes=["orders:read"])
    with (
        httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http,
        pytest.raises(TokenRequestError, match="invalid_client"),
    ):
        http.get("https://api.example/orders")
    assert api.seen == []


def test_401_retry_that_cannot_get_a_token_raises(setup: Setup) -> None:
    okta, client, api = setup
    api.always_401 = True
    client.get_token()
    okta.register_client("svc", "rotated-secret", scopes=["orders:read"])
    with (
        httpx.Client(transport=httpx.MockTransport(api), auth=client.auth) as http,
        pytest.raises(TokenRequestError),
    ):
        http.get("https://api.example/orders")
    assert len(api.seen) == 1


async def test_async_flow(setup: Setup) -> None:
    okta, client, api = setup
    stale = await client.get_token_async()
    api.refused.add(stale.access_token)
    transport = httpx.MockTransport(api)
    async with httpx.AsyncClient(transport=transport, auth=client.auth) as http:
        assert (await http.get("https://api.example/orders")).status_code == 200
        api.always_401 = True
        assert (await http.post("https://api.example/orders", json={})).status_code == 401
    assert len(api.seen) == 3
    assert okta.count("token") == 2


async def test_async_flow_never_sends_without_a_token(
    setup: Setup,
) -> None:
    okta, client, api = setup
    okta.fail_next("token", 400, body={"error": "invalid_scope"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(api), auth=client.auth) as http:
        with pytest.raises(TokenRequestError, match="invalid_scope"):
            await http.get("https://api.example/orders")
    assert api.seen == []


def test_auth_flow_alias_adds_the_token(setup: Setup) -> None:
    _, client, _ = setup
    request = httpx.Request("GET", "https://api.example/")
    flow = client.auth.auth_flow(request)
    sent = next(flow)
    assert sent.headers["authorization"].startswith("Bearer ")
