"""MultiIssuerVerifier through the middleware, require_scopes, FastAPI and RFC 9728 metadata."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient as FastAPIClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from okta_guard import (
    AccessToken,
    MultiIssuerVerifier,
    OktaGuardMiddleware,
    TokenVerifier,
    audit_routes,
    require_scopes,
)
from okta_guard.fastapi import OktaAuth
from okta_guard.testing import FakeClock, MockIssuer


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer(clock=FakeClock())
    issuer.add_auth_server("partner", audience="api://partner")
    try:
        yield issuer
    finally:
        issuer.close()


def multi_for(okta: MockIssuer) -> MultiIssuerVerifier:
    def one(issuer: str, audience: str) -> TokenVerifier:
        return TokenVerifier(
            issuer,
            audience,
            clock=okta.clock,
            http_client=httpx.Client(transport=okta.transport),
            async_http_client=httpx.AsyncClient(transport=okta.transport),
        )

    return MultiIssuerVerifier(
        [one(okta.issuer, "api://default"), one(okta.issuer_for("partner"), "api://partner")]
    )


@require_scopes("orders:read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"iss": request.user.issuer})


@require_scopes("orders:read")
def orders_sync(request: Request) -> JSONResponse:
    return JSONResponse({"iss": request.user.issuer})


def test_middleware_and_require_scopes_accept_both_issuers(okta: MockIssuer) -> None:
    app = Starlette(
        routes=[Route("/orders", orders), Route("/sync", orders_sync)],
        middleware=[Middleware(OktaGuardMiddleware, verifier=multi_for(okta))],
    )
    a = okta.mint_token(scopes=["orders:read"])
    b = okta.mint_token(scopes=["orders:read"], server="partner")
    other = MockIssuer(clock=okta.clock)
    c = other.mint_token(scopes=["orders:read"], claims={"iss": "https://x.okta.com/oauth2/y"})
    with TestClient(app) as client:
        for path in ("/orders", "/sync"):
            for token, iss in ((a, okta.issuer), (b, okta.issuer_for("partner"))):
                answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200
                assert answer.json() == {"iss": iss}
            refused = client.get(path, headers={"Authorization": f"Bearer {c}"})
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        meta = client.get("/.well-known/oauth-protected-resource").json()
    assert meta["authorization_servers"] == [okta.issuer, okta.issuer_for("partner")]
    other.close()


def test_require_scopes_without_middleware(okta: MockIssuer) -> None:
    verifier = multi_for(okta)

    @require_scopes("orders:read", verifier=verifier)
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"iss": request.user.issuer})

    app = Starlette(routes=[Route("/x", endpoint)])
    b = okta.mint_token(scopes=["orders:read"], server="partner")
    with TestClient(app) as client:
        assert client.get("/x", headers={"Authorization": f"Bearer {b}"}).json() == {
            "iss": okta.issuer_for("partner")
        }
        assert client.get("/x", headers={"Authorization": "Bearer a.b.c"}).status_code == 401


def test_fastapi_openapi_has_one_scheme_per_issuer(okta: MockIssuer) -> None:
    okta_auth = OktaAuth(multi_for(okta))
    app = FastAPI()
    okta_auth.install(app)

    @app.get("/orders")
    async def list_orders(
        token: AccessToken = okta_auth.require("orders:read"),  # noqa: B008
    ) -> dict[str, str]:
        return {"iss": token.issuer}

    @app.get("/reports")
    async def reports(
        token: AccessToken = okta_auth.any_of("reports:read", "admin"),  # noqa: B008
    ) -> dict[str, str]:
        return {"iss": token.issuer}

    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert set(schemes) == {"okta", "okta_2"}
    urls = {name: s["flows"]["clientCredentials"]["tokenUrl"] for name, s in schemes.items()}
    assert urls == {
        "okta": okta.issuer + "/v1/token",
        "okta_2": okta.issuer_for("partner") + "/v1/token",
    }
    assert okta.issuer_for("partner") in schemes["okta_2"]["description"]
    assert schema["paths"]["/orders"]["get"]["security"] == [
        {"okta": ["orders:read"]},
        {"okta_2": ["orders:read"]},
    ]
    reports_security = schema["paths"]["/reports"]["get"]["security"]
    assert {"okta": ["reports:read"]} in reports_security
    assert {"okta_2": ["reports:read"]} in reports_security
    assert {"okta_2": ["admin"]} in reports_security
    with FastAPIClient(app) as client:
        b = okta.mint_token(scopes=["orders:read"], server="partner")
        answer = client.get("/orders", headers={"Authorization": f"Bearer {b}"})
        assert answer.json() == {"iss": okta.issuer_for("partner")}
        meta = client.get("/.well-known/oauth-protected-resource").json()
        assert meta["authorization_servers"] == [okta.issuer, okta.issuer_for("partner")]
    paths = {info.path: info for info in audit_routes(app)}
    assert paths["/orders"].protected
    assert paths["/orders"].scopes == ("orders:read",)


def test_single_issuer_openapi_is_unchanged(okta: MockIssuer) -> None:
    verifier = TokenVerifier(okta.issuer, "api://default")
    okta_auth = OktaAuth(verifier)
    app = FastAPI()
    okta_auth.install(app)

    @app.get("/orders")
    async def list_orders(
        token: AccessToken = okta_auth.require("orders:read"),  # noqa: B008
    ) -> dict[str, str]:
        return {}

    schema = app.openapi()
    assert set(schema["components"]["securitySchemes"]) == {"okta"}
    assert schema["paths"]["/orders"]["get"]["security"] == [{"okta": ["orders:read"]}]
