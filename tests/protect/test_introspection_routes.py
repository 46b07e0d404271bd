"""Revocation through introspection on the routes that opt in, against the mock Okta.

A token revoked with ``/v1/revoke`` is refused on introspecting routes once the cached
answer ends (30 s by default), while other routes keep accepting it (local verdicts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient as FastAPIClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from okta_guard import (
    AccessToken,
    ConfigurationError,
    IntrospectionClient,
    InvalidTokenError,
    MultiIssuerVerifier,
    OktaGuardMiddleware,
    TokenClient,
    TokenVerifier,
    require_scopes,
)
from okta_guard.fastapi import OktaAuth
from okta_guard.testing import FakeClock, MockIssuer

SECRET = "caller-secret-" + "x" * 30
INTROSPECTOR_SECRET = "introspector-secret-" + "y" * 30


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer(clock=FakeClock())
    issuer.register_client("svc", SECRET, scopes=["payments:write", "orders:read"])
    issuer.register_client("introspector", INTROSPECTOR_SECRET)
    try:
        yield issuer
    finally:
        issuer.close()


def verifier_for(okta: MockIssuer, **options: Any) -> TokenVerifier:
    introspection = IntrospectionClient(
        okta.issuer,
        "introspector",
        INTROSPECTOR_SECRET,
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
    )
    return TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
        introspection=introspection,
        **options,
    )


def service_token(okta: MockIssuer) -> str:
    client = TokenClient(
        okta.issuer,
        "svc",
        SECRET,
        scopes=["payments:write", "orders:read"],
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
    )
    return client.get_token().access_token


def revoke_over_http(okta: MockIssuer, token: str) -> None:
    with httpx.Client(transport=okta.transport) as http:
        answer = http.post(okta.revocation_url, data={"token": token}, auth=("svc", SECRET))
    assert answer.status_code == 200


@require_scopes("payments:write", introspect=True)
async def pay(request: Request) -> JSONResponse:
    return JSONResponse({"paid": request.user.client_id})


@require_scopes("payments:write", introspect=True)
def pay_sync(request: Request) -> JSONResponse:
    return JSONResponse({"paid": request.user.client_id})


@require_scopes("orders:read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": []})


def starlette_app(verifier: Any) -> Starlette:
    return Starlette(
        routes=[Route("/pay", pay), Route("/pay-sync", pay_sync), Route("/orders", orders)],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier)],
    )


def test_revoked_token_is_refused_on_introspecting_routes_within_the_cache_time(
    okta: MockIssuer,
) -> None:
    verifier = verifier_for(okta)
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(starlette_app(verifier)) as client:
        for path in ("/pay", "/pay-sync", "/orders", "/pay"):
            assert client.get(path, headers=auth).status_code == 200
        assert okta.count("introspect") == 1  # cached per token, shared by both routes
        revoke_over_http(okta, token)
        okta.clock.advance(30)  # type: ignore[attr-defined]
        for path in ("/pay", "/pay-sync"):
            refused = client.get(path, headers=auth)
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
            assert refused.json()["error"] == "invalid_token"
        assert client.get("/orders", headers=auth).status_code == 200  # other routes work
    assert verifier.stats.verdicts["revoked"] == 2
    assert okta.count("introspect") == 2  # the inactive answer is remembered


def test_zero_cache_time_refuses_at_once(okta: MockIssuer) -> None:
    verifier = verifier_for(okta, introspection_cache_ttl=0)
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(starlette_app(verifier)) as client:
        assert client.get("/pay", headers=auth).status_code == 200
        revoke_over_http(okta, token)
        assert client.get("/pay", headers=auth).status_code == 401


def test_outage_is_503_by_default_and_other_routes_keep_working(okta: MockIssuer) -> None:
    verifier = verifier_for(okta)
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(starlette_app(verifier)) as client:
        assert client.get("/orders", headers=auth).status_code == 200
        with okta.outage("introspect"):
            answer = client.get("/pay", headers=auth)
            assert answer.status_code == 503
            assert int(answer.headers["retry-after"]) >= 1
            assert client.get("/orders", headers=auth).status_code == 200


def test_fallback_uses_the_last_answer_within_its_bound(okta: MockIssuer) -> None:
    verifier = verifier_for(okta, introspection_fallback=300)
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(starlette_app(verifier)) as client:
        assert client.get("/pay", headers=auth).status_code == 200
        with okta.outage("introspect", disconnect=True):
            okta.clock.advance(200)  # type: ignore[attr-defined]
            assert client.get("/pay", headers=auth).status_code == 200
            okta.clock.advance(200)  # type: ignore[attr-defined]
            assert client.get("/pay", headers=auth).status_code == 503


def test_429_answers_503_until_the_reset(okta: MockIssuer) -> None:
    verifier = verifier_for(okta)
    first, second = service_token(okta), okta.mint_token(scopes=["payments:write"])
    reset = int(okta.clock()) + 25
    okta.fail_next("introspect", 429, headers={"X-Rate-Limit-Reset": str(reset)})
    with TestClient(starlette_app(verifier)) as client:
        answer = client.get("/pay", headers={"Authorization": f"Bearer {first}"})
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "25"
        okta.clock.advance(10)  # type: ignore[attr-defined]
        answer = client.get("/pay", headers={"Authorization": f"Bearer {second}"})
        assert answer.status_code == 503  # not asked while rate limited
        assert okta.count("introspect") == 1
        okta.clock.advance(16)  # type: ignore[attr-defined]
        assert client.get("/pay", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_introspect_all_checks_every_route_and_sync_verify(okta: MockIssuer) -> None:
    verifier = verifier_for(okta, introspect_all=True)
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    assert verifier.verify(token).client_id == "svc"
    assert verifier.verify_cached(token) is None  # no synchronous shortcut past introspection
    with TestClient(starlette_app(verifier)) as client:
        assert client.get("/orders", headers=auth).status_code == 200
        revoke_over_http(okta, token)
        okta.clock.advance(31)  # type: ignore[attr-defined]
        assert client.get("/orders", headers=auth).status_code == 401
    with pytest.raises(Exception, match="revoked"):
        verifier.verify(token)


def test_without_an_introspection_client_the_route_fails_closed(okta: MockIssuer) -> None:
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
    )
    token = okta.mint_token(scopes=["payments:write"])
    with TestClient(starlette_app(verifier)) as client:
        answer = client.get("/pay", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    with pytest.raises(ConfigurationError):
        TokenVerifier(okta.issuer, okta.audience, introspect_all=True)


def test_require_scopes_without_middleware_and_with_several_issuers(okta: MockIssuer) -> None:
    multi = MultiIssuerVerifier([verifier_for(okta)])

    @require_scopes("payments:write", verifier=multi, introspect=True)
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(Starlette(routes=[Route("/x", endpoint)])) as client:
        assert client.get("/x", headers=auth).status_code == 200
        okta.revoke(token)
        okta.clock.advance(30)  # type: ignore[attr-defined]
        assert client.get("/x", headers=auth).status_code == 401


def test_fastapi_require_and_any_of_with_introspection(okta: MockIssuer) -> None:
    okta_auth = OktaAuth(verifier_for(okta))
    app = FastAPI()
    okta_auth.install(app)

    @app.post("/pay")
    async def pay_route(
        token: AccessToken = okta_auth.require("payments:write", introspect=True),  # noqa: B008
    ) -> dict[str, str | None]:
        return {"paid": token.client_id}

    @app.post("/refund")
    async def refund(
        token: AccessToken = okta_auth.any_of("payments:write", "admin", introspect=True),  # noqa: B008
    ) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/orders")
    async def list_orders(
        token: AccessToken = okta_auth.require("orders:read"),  # noqa: B008
    ) -> dict[str, bool]:
        return {"ok": True}

    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with FastAPIClient(app) as client:
        assert client.post("/pay", headers=auth).json() == {"paid": "svc"}
        assert client.post("/refund", headers=auth).status_code == 200
        revoke_over_http(okta, token)
        okta.clock.advance(30)  # type: ignore[attr-defined]
        refused = client.post("/pay", headers=auth)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert client.post("/refund", headers=auth).status_code == 401
        assert client.get("/orders", headers=auth).status_code == 200
        no_scope = okta.mint_token(scopes=["orders:read"])
        answer = client.post("/pay", headers={"Authorization": f"Bearer {no_scope}"})
        assert answer.status_code == 403
    schema = app.openapi()
    assert schema["paths"]["/pay"]["post"]["security"] == [{"okta": ["payments:write"]}]


async def test_async_verify_with_introspect_all(okta: MockIssuer) -> None:
    verifier = verifier_for(okta, introspect_all=True)
    token = okta.mint_token(scopes=["payments:write"])
    assert (await verifier.verify_async(token)).scopes == {"payments:write"}
    okta.revoke(token)
    okta.clock.advance(31)  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="revoked"):
        await verifier.verify_async(token)


def test_sync_introspect_against_the_mock(okta: MockIssuer) -> None:
    verifier = verifier_for(okta)
    token = service_token(okta)
    access = verifier.verify(token)
    assert verifier.introspect(token, access) is access
    revoke_over_http(okta, token)
    assert verifier.introspect(token, access) is access  # cached answer, within 30 s
    okta.clock.advance(30)  # type: ignore[attr-defined]
    with pytest.raises(InvalidTokenError) as info:
        verifier.introspect(token, access)
    assert info.value.reason == "revoked"
    assert verifier.verify(token) is not None  # local verification alone still accepts it


def test_websocket_route_with_introspection(okta: MockIssuer) -> None:
    @require_scopes("payments:write", introspect=True)
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("ok")
        await websocket.close()

    app = Starlette(
        routes=[WebSocketRoute("/feed", feed)],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier_for(okta))],
    )
    token = service_token(okta)
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        with client.websocket_connect("/feed", headers=auth) as ws:
            assert ws.receive_text() == "ok"
        okta.revoke(token)
        okta.clock.advance(30)  # type: ignore[attr-defined]
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/feed", headers=auth),
        ):
            pass
        assert info.value.code == 1008
