"""The middleware and require_scopes with the real TokenVerifier against the mock issuer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from okta_guard import IssuerUnavailableError, OktaGuardMiddleware, TokenVerifier, require_scopes
from okta_guard.testing import OMIT, FakeClock, MockIssuer

AUDIENCE = "api://orders"


@require_scopes("orders:read")
async def orders(request: Request) -> JSONResponse:
    token = request.user
    return JSONResponse({"client": token.client_id, "scopes": sorted(request.auth.scopes)})


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.client_id)
    await websocket.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def okta(clock: FakeClock) -> Iterator[MockIssuer]:
    issuer = MockIssuer(audience=AUDIENCE, clock=clock)
    try:
        yield issuer
    finally:
        issuer.close()


def make_app(okta: MockIssuer, **options: object) -> Starlette:
    verifier = TokenVerifier(
        okta.issuer,
        AUDIENCE,
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
    )
    return Starlette(
        routes=[Route("/orders", orders), WebSocketRoute("/ws", ws)],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier, **options)],
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_real_tokens(okta: MockIssuer) -> None:
    with TestClient(make_app(okta)) as client:
        good = okta.mint_token(scopes=["orders:read"], client_id="svc")
        response = client.get("/orders", headers=auth(good))
        assert response.json() == {"client": "svc", "scopes": ["orders:read"]}
        with client.websocket_connect("/ws", headers=auth(good)) as session:
            assert session.receive_text() == "svc"
        for bad in (
            okta.mint_token(scopes=["orders:read"], audience="api://other"),
            okta.mint_token(scopes=["orders:read"], expires_in=-600),
            okta.mint_token(scopes=["orders:read"], headers={"alg": "none"}),
            okta.mint_token(scopes=["orders:read"], claims={"exp": OMIT}),
            "a.b.c",
        ):
            answer = client.get("/orders", headers=auth(bad))
            assert answer.status_code == 401
            assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        wrong_scope = client.get("/orders", headers=auth(okta.mint_token(scopes=["x"])))
        assert wrong_scope.status_code == 403


def test_rotated_keys_are_picked_up(okta: MockIssuer) -> None:
    with TestClient(make_app(okta)) as client:
        okta.rotate_keys()
        token = okta.mint_token(scopes=["orders:read"])
        assert client.get("/orders", headers=auth(token)).status_code == 200


def test_issuer_down_with_nothing_cached_is_503(okta: MockIssuer, clock: FakeClock) -> None:
    okta.start_outage("keys")
    token = okta.mint_token(scopes=["orders:read"])
    with TestClient(make_app(okta)) as client:  # prewarm fails: logged, not fatal
        response = client.get("/orders", headers=auth(token))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "temporarily_unavailable"
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/ws", headers=auth(token)),
        ):
            pass  # pragma: no cover
        assert info.value.code == 1013
        okta.end_outage()
        clock.advance(120)  # past the verifier's retry backoff
        assert client.get("/orders", headers=auth(token)).status_code == 200


def test_issuer_down_after_prewarm_keeps_working(okta: MockIssuer) -> None:
    with TestClient(make_app(okta)) as client:
        assert okta.keys_fetches == 1
        okta.start_outage()
        token = okta.mint_token(scopes=["orders:read"])
        assert client.get("/orders", headers=auth(token)).status_code == 200


def test_strict_startup_with_issuer_down(okta: MockIssuer) -> None:
    okta.start_outage("keys")
    with pytest.raises(IssuerUnavailableError), TestClient(make_app(okta, strict_startup=True)):
        pass  # pragma: no cover


def test_tokens_never_reach_logs_or_bodies(
    okta: MockIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="okta_guard")
    tokens = [
        okta.mint_token(scopes=["orders:read"], audience="api://other"),
        okta.mint_token(scopes=["nope"]),
        okta.mint_token(scopes=["orders:read"]),
    ]
    with TestClient(make_app(okta)) as client:
        bodies = [client.get("/orders", headers=auth(t)).text for t in tokens]
        bodies.append(client.get("/orders?access_token=" + tokens[2]).text)
    assert [b.count('"error"') for b in bodies[:2]] == [1, 1]
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
        assert signature not in caplog.text
        assert all(signature not in body for body in bodies)
    assert "okta-guard refused" in caplog.text
