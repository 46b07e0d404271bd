"""How to write integration tests for your own API with okta-guard's pytest fixtures.

Installing okta-guard registers a pytest plugin with three fixtures:

* ``okta_issuer``: a mock Okta custom authorization server, in-process (no socket);
* ``okta_issuer_server``: the same on a real loopback port, for code that makes
  its own HTTP connections;
* ``fake_clock``: a clock you move by hand (``@pytest.mark.okta_issuer(clock="fake_clock")``
  gives it to the mock too).

The app under test here is ``examples/starlette_app.py`` (``create_app(verifier)``);
use your own app factory the same way.  Run: ``pytest examples/test_with_mock_issuer.py``.
The async tests need pytest-asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from examples.starlette_app import create_app
from okta_guard import TokenClient, TokenVerifier
from okta_guard.testing import FakeClock, MockIssuer

READ, WRITE = "orders:read", "orders:write"


# -- fixtures: your API, verifying tokens from the mock issuer -------------------------


@pytest.fixture
def verifier(okta_issuer: MockIssuer) -> Iterator[TokenVerifier]:
    """A real TokenVerifier, fetching keys from the in-process mock, on the mock's clock."""
    verifier = TokenVerifier(
        okta_issuer.issuer,
        okta_issuer.audience,  # "api://default"
        clock=okta_issuer.clock,  # the fake clock when the test asks for one
        http_client=okta_issuer.http_client(),
        async_http_client=okta_issuer.async_http_client(),
    )
    yield verifier
    verifier.close()


@pytest_asyncio.fixture
async def api(verifier: TokenVerifier) -> AsyncIterator[httpx.AsyncClient]:
    """Your app, called in-process through httpx (no server, no lifespan)."""
    transport = httpx.ASGITransport(app=create_app(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The request header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


# -- tokens: minted directly, or from the token endpoint ---------------------------------


@pytest.mark.asyncio
async def test_scopes_decide(okta_issuer: MockIssuer, api: httpx.AsyncClient) -> None:
    reader = okta_issuer.mint_token(scopes=[READ], client_id="reader")
    writer = okta_issuer.mint_token(scopes=[READ, WRITE], client_id="writer")

    assert (await api.get("/health")).status_code == 200  # public
    assert (await api.get("/orders")).status_code == 401  # no token
    listed = await api.get("/orders", headers=bearer(reader))
    assert listed.status_code == 200
    assert listed.json()["client"] == "reader"

    denied = await api.post("/orders", json={"item": "tea"}, headers=bearer(reader))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    created = await api.post("/orders", json={"item": "tea"}, headers=bearer(writer))
    assert created.status_code == 201


@pytest.mark.asyncio
async def test_bad_tokens_get_401(okta_issuer: MockIssuer, api: httpx.AsyncClient) -> None:
    bad = {
        "expired": okta_issuer.mint_token(scopes=[READ], expires_in=-3600),
        "wrong audience": okta_issuer.mint_token(scopes=[READ], audience="api://other"),
        "not from this issuer": okta_issuer.mint_token(
            scopes=[READ], claims={"iss": "https://evil.example/oauth2/default"}
        ),
    }
    for label, token in bad.items():
        response = await api.get("/orders", headers=bearer(token))
        assert response.status_code == 401, label
        assert 'error="invalid_token"' in response.headers["www-authenticate"], label


@pytest.mark.okta_issuer(clock="fake_clock")
@pytest.mark.asyncio
async def test_token_expiry_on_a_fake_clock(
    okta_issuer: MockIssuer, fake_clock: FakeClock, api: httpx.AsyncClient
) -> None:
    token = okta_issuer.mint_token(scopes=[READ], expires_in=300)
    assert (await api.get("/orders", headers=bearer(token))).status_code == 200
    fake_clock.advance(300 + 61)  # past exp and the verifier's 60 s leeway; no sleeping
    assert (await api.get("/orders", headers=bearer(token))).status_code == 401


@pytest.mark.asyncio
async def test_service_token_from_the_token_endpoint(
    okta_issuer: MockIssuer, api: httpx.AsyncClient
) -> None:
    """A registered service app gets its token with TokenClient, as in production."""
    okta_issuer.register_client("svc", "test-secret", scopes=[READ])
    tokens = TokenClient(
        okta_issuer.issuer,
        "svc",
        "test-secret",
        scopes=[READ],
        async_http_client=okta_issuer.async_http_client(),
    )
    response = await api.get("/orders", auth=tokens.auth)  # Authorization: Bearer <token>
    assert response.status_code == 200
    assert response.json()["client"] == "svc"
    assert okta_issuer.count("token") == 1


def test_real_sockets_with_the_server_fixture(okta_issuer_server: MockIssuer) -> None:
    """okta_issuer_server listens on 127.0.0.1: no client injection needed."""
    okta_issuer_server.register_client("svc", "test-secret", scopes=[READ])
    assert okta_issuer_server.issuer.startswith("http://127.0.0.1:")
    with (
        TokenClient(okta_issuer_server.issuer, "svc", "test-secret", scopes=[READ]) as tokens,
        TokenVerifier(okta_issuer_server.issuer, okta_issuer_server.audience) as verifier,
    ):
        access = verifier.verify(tokens.get_token().access_token)
    assert access.client_id == "svc"
    assert access.scopes == {READ}


# -- key rotation --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_scheduled_key_rotation_needs_no_fetch(
    okta_issuer: MockIssuer, api: httpx.AsyncClient
) -> None:
    """Okta publishes the next key before using it, so the cached key set already has it."""
    before = okta_issuer.mint_token(scopes=[READ])
    assert (await api.get("/orders", headers=bearer(before))).status_code == 200
    okta_issuer.rotate_keys()
    after = okta_issuer.mint_token(scopes=[READ])  # signed by the new active key
    assert (await api.get("/orders", headers=bearer(after))).status_code == 200
    assert (await api.get("/orders", headers=bearer(before))).status_code == 200  # still listed
    assert okta_issuer.count("keys") == 1


@pytest.mark.okta_issuer(clock="fake_clock")
@pytest.mark.asyncio
async def test_emergency_rotation_costs_one_fetch(
    okta_issuer: MockIssuer, fake_clock: FakeClock, api: httpx.AsyncClient
) -> None:
    old = okta_issuer.mint_token(scopes=[READ])
    assert (await api.get("/orders", headers=bearer(old))).status_code == 200
    okta_issuer.rotate_keys(keep_previous=False)
    okta_issuer.rotate_keys(keep_previous=False)  # a key the API has never seen, old one gone
    fake_clock.advance(31)  # unknown kids refetch at most once per 30 s cooldown
    new = okta_issuer.mint_token(scopes=[READ])
    assert (await api.get("/orders", headers=bearer(new))).status_code == 200
    assert okta_issuer.count("keys") == 2  # exactly one refetch
    assert (await api.get("/orders", headers=bearer(old))).status_code == 401  # key withdrawn


# -- issuer outages ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_outage_with_cached_keys_is_invisible(
    okta_issuer: MockIssuer, api: httpx.AsyncClient
) -> None:
    first = okta_issuer.mint_token(scopes=[READ])
    assert (await api.get("/orders", headers=bearer(first))).status_code == 200  # keys cached
    with okta_issuer.outage("*", status=503):  # Okta down from here on
        second = okta_issuer.mint_token(scopes=[READ])
        assert (await api.get("/orders", headers=bearer(second))).status_code == 200


@pytest.mark.okta_issuer(clock="fake_clock")
@pytest.mark.asyncio
async def test_outage_before_any_key_is_503_then_recovers(
    okta_issuer: MockIssuer, fake_clock: FakeClock, api: httpx.AsyncClient
) -> None:
    token = okta_issuer.mint_token(scopes=[READ])
    with okta_issuer.outage("keys", status=503):
        response = await api.get("/orders", headers=bearer(token))
    assert response.status_code == 503  # "try again later", never "your token is bad"
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1

    fake_clock.advance(60 + 1)  # past the verifier's backoff (at most 60 s)
    assert (await api.get("/orders", headers=bearer(token))).status_code == 200
    assert [r.status for r in okta_issuer.requests if r.endpoint == "keys"] == [503, 200]
