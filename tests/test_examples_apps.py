"""The example apps, run in-process against the mock issuer with a real TokenVerifier."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from okta_guard import TokenVerifier
from okta_guard.testing import MockIssuer

pytest.importorskip("fastapi")

from examples import fastapi_app, starlette_app

AUDIENCE = "api://orders"


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer(audience=AUDIENCE, scopes=["orders:read", "orders:write"])
    try:
        yield issuer
    finally:
        issuer.close()


def verifier_for(okta: MockIssuer) -> TokenVerifier:
    return TokenVerifier(
        okta.issuer,
        AUDIENCE,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
    )


@pytest.fixture(params=["starlette", "fastapi"])
def module(request: pytest.FixtureRequest) -> Any:
    return starlette_app if request.param == "starlette" else fastapi_app


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_example_end_to_end(okta: MockIssuer, module: Any) -> None:
    app = module.create_app(verifier_for(okta))
    read = okta.mint_token(scopes=["orders:read"], client_id="reader")
    write = okta.mint_token(scopes=["orders:write"])
    with TestClient(app) as client:
        assert okta.keys_fetches == 1  # prewarmed at startup
        assert client.get("/health").json() == {"status": "ok"}
        missing = client.get("/orders")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith('Bearer realm="api://orders"')
        ok = client.get("/orders", headers=auth(read))
        assert ok.status_code == 200
        assert ok.json()["client"] == "reader"
        assert client.get("/orders", headers=auth(write)).status_code == 403
        created = client.post("/orders", json={"item": "tea"}, headers=auth(write))
        assert created.status_code == 201
        assert created.json()["item"] == "tea"
        assert client.post("/orders", json={"item": "tea"}, headers=auth(read)).status_code == 403
        bad = client.get("/orders", headers=auth(read[:-4] + "AAAA"))
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        expired = okta.mint_token(scopes=["orders:read"], expires_in=-3600)
        assert client.get("/orders", headers=auth(expired)).status_code == 401
        with client.websocket_connect("/orders/live", headers=auth(read)) as session:
            assert session.receive_json()["orders"]
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/orders/live", headers=auth(write)),
        ):
            pass  # pragma: no cover
        assert info.value.code == 1008
        meta = client.get("/.well-known/oauth-protected-resource").json()
        assert meta["authorization_servers"] == [okta.issuer]
        assert {"orders:read", "orders:write"} <= set(meta["scopes_supported"])


def test_example_answers_503_when_the_issuer_is_down(okta: MockIssuer, module: Any) -> None:
    token = okta.mint_token(scopes=["orders:read"])
    okta.fail_next("keys", status=503, times=100)
    with TestClient(module.create_app(verifier_for(okta))) as client:  # startup survives
        response = client.get("/orders", headers=auth(token))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1


def test_example_modules_build_app_from_env(
    okta: MockIssuer, module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKTA_ISSUER", "https://dev-123456.okta.com/oauth2/default")
    monkeypatch.setenv("OKTA_AUDIENCE", AUDIENCE)
    monkeypatch.delitem(vars(module), "app", raising=False)
    app = module.app
    assert app is module.app
    monkeypatch.delitem(vars(module), "app")
    with pytest.raises(AttributeError):
        module.nothing  # noqa: B018
