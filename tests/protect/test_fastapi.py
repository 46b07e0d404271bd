"""okta_guard.fastapi: the security dependency, its answers and the OpenAPI document."""

from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from okta_guard.fastapi import OktaAuth
from okta_guard.models import AccessToken
from okta_guard.protect.audit import audit_routes
from okta_guard.protect.middleware import OktaGuardMiddleware
from tests.support.middleware_fakes import ISSUER, FakeVerifier, bearer

META = "http://testserver/.well-known/oauth-protected-resource"


def make_app(*, middleware: bool = False, install: bool = True) -> FastAPI:
    verifier = FakeVerifier()
    okta = OktaAuth(verifier, scopes={"orders:read": "Read orders"})
    app = FastAPI()
    if middleware:
        app.add_middleware(
            OktaGuardMiddleware,
            verifier=verifier,
            exclude_paths=["/docs*", "/openapi.json", "/health"],
        )
    if install:
        okta.install(app)

    @app.get("/orders")
    async def list_orders(
        token: Annotated[AccessToken, Security(okta, scopes=["orders:read"])],
    ) -> dict[str, Any]:
        return {"sub": token.subject, "scopes": sorted(token.scopes)}

    @app.post("/orders")
    async def create_order(
        token: Annotated[AccessToken, okta.require("orders:write")],
    ) -> dict[str, str]:
        return {"created_by": token.client_id or ""}

    @app.get("/reports")
    async def reports(token: Annotated[AccessToken, okta.any_of("reports:read", "admin")]) -> str:
        return "reports"

    @app.get("/token-only")
    async def token_only(token: Annotated[AccessToken, Depends(okta)]) -> str:
        return "any token"

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/greeting")
    async def greeting(token: Annotated[AccessToken | None, okta.optional()]) -> str:
        return f"hello {token.subject}" if token is not None else "hello stranger"

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket, token: Annotated[AccessToken, Security(okta, scopes=["orders:read"])]
    ) -> None:
        await websocket.accept()
        await websocket.send_text(token.subject or "")
        await websocket.close()

    return app


MODES = {
    "dependency": {},
    "with-middleware": {"middleware": True},
    "not-installed": {"install": False},
}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(mode: str) -> TestClient:
    return TestClient(make_app(**MODES[mode]))


@pytest.mark.parametrize(
    ("method", "path", "token", "status"),
    [
        ("GET", "/orders", "read", 200),
        ("GET", "/orders", "write", 403),
        ("POST", "/orders", "write", 200),
        ("POST", "/orders", "read", 403),
        ("GET", "/reports", "admin", 200),
        ("GET", "/reports", "read", 403),
        ("GET", "/token-only", "none", 200),
        ("GET", "/orders", "forged", 401),
        ("GET", "/orders", "down", 503),
        ("GET", "/health", "forged", 200),
    ],
)
def test_statuses(client: TestClient, method: str, path: str, token: str, status: int) -> None:
    assert client.request(method, path, headers=bearer(token)).status_code == status


def test_success_returns_the_access_token(client: TestClient) -> None:
    assert client.get("/orders", headers=bearer("read")).json() == {
        "sub": "alice@example.com",
        "scopes": ["orders:read"],
    }


def test_challenges(client: TestClient, mode: str) -> None:
    suffix = "" if mode == "not-installed" else f', resource_metadata="{META}"'
    missing = client.get("/orders")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="api://orders"{suffix}'
    forged = client.get("/orders", headers=bearer("forged"))
    assert forged.headers["www-authenticate"].startswith(
        'Bearer realm="api://orders", error="invalid_token", error_description="'
    )
    forbidden = client.get("/orders", headers=bearer("write"))
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
    assert 'scope="orders:read"' in forbidden.headers["www-authenticate"]
    down = client.get("/orders", headers=bearer("down"))
    assert down.headers["retry-after"] == "8"
    bad = client.get("/orders", headers={"Authorization": "Bearer a b"})
    assert bad.status_code == 400
    assert 'error="invalid_request"' in bad.headers["www-authenticate"]
    assert client.get("/orders?access_token=read", headers=bearer("read")).status_code == 400


def test_error_bodies(mode: str) -> None:
    client = TestClient(make_app(**MODES[mode]))
    body = client.get("/orders", headers=bearer("forged")).json()
    if mode == "not-installed":
        assert body == {"detail": "The access token is invalid."}
    else:
        assert body == {
            "error": "invalid_token",
            "error_description": "The access token is invalid.",
        }


def test_websocket(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=bearer("read")) as session:
        assert session.receive_text() == "alice@example.com"
    for headers, code in ((bearer("write"), 1008), ({}, 1008), (bearer("down"), 1013)):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect("/ws", headers=headers),
        ):
            pass  # pragma: no cover
        assert info.value.code == code


def test_openapi_security_scheme_and_operation_scopes() -> None:
    schema = TestClient(make_app()).get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["okta"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == ISSUER + "/v1/token"
    # a scope without a description gets none (Swagger UI would print its name twice)
    assert flow["scopes"] == {
        "orders:read": "Read orders",
        "orders:write": "",
        "reports:read": "",
        "admin": "",
    }
    paths = schema["paths"]
    assert paths["/orders"]["get"]["security"] == [{"okta": ["orders:read"]}]
    assert paths["/orders"]["post"]["security"] == [{"okta": ["orders:write"]}]
    assert paths["/reports"]["get"]["security"] == [{"okta": ["reports:read"]}, {"okta": ["admin"]}]
    assert paths["/token-only"]["get"]["security"] == [{"okta": []}]
    assert "security" not in paths["/health"]["get"]


def test_resource_metadata_route(client: TestClient, mode: str) -> None:
    response = client.get("/.well-known/oauth-protected-resource")
    if mode == "not-installed":
        assert response.status_code == 404
        return
    assert response.json() == {
        "resource": "http://testserver",
        "authorization_servers": [ISSUER],
        "scopes_supported": ["admin", "orders:read", "orders:write", "reports:read"],
        "bearer_methods_supported": ["header"],
    }


def test_audit_sees_fastapi_dependencies() -> None:
    infos = {(i.path, i.methods): i for i in audit_routes(make_app())}
    assert infos[("/orders", ("GET",))].scopes == ("orders:read",)
    assert infos[("/orders", ("POST",))].scopes == ("orders:write",)
    assert infos[("/reports", ("GET",))].any_of == ("reports:read", "admin")
    assert infos[("/token-only", ("GET",))].protected
    assert infos[("/ws", ("WEBSOCKET",))].scopes == ("orders:read",)
    assert infos[("/health", ("GET",))].unprotected
    assert infos[("/.well-known/oauth-protected-resource", ("GET",))].excluded
    assert infos[("/docs", ("GET",))].excluded  # FastAPI's own docs: public by design
    assert infos[("/openapi.json", ("GET",))].excluded
    assert all(i.source == "dependency" for i in infos.values() if i.protected)


def test_audit_with_middleware_marks_docs_public() -> None:
    infos = {i.path: i for i in audit_routes(make_app(middleware=True))}
    assert infos["/docs"].excluded
    assert infos["/openapi.json"].excluded
    assert infos["/health"].excluded
    assert infos["/orders"].protected


def test_optional_token(client: TestClient, mode: str) -> None:
    if mode == "with-middleware":
        # The middleware requires a token on every non-excluded path, so the
        # optional dependency never sees an anonymous request there.
        assert client.get("/greeting").status_code == 401
    else:
        assert client.get("/greeting").json() == "hello stranger"
    assert client.get("/greeting", headers=bearer("read")).json() == "hello alice@example.com"
    assert client.get("/greeting", headers=bearer("forged")).status_code == 401
    assert client.get("/greeting", headers={"Authorization": "Bearer"}).status_code == 400


def test_openapi_without_install_still_lists_operation_scopes() -> None:
    schema = TestClient(make_app(install=False)).get("/openapi.json").json()
    assert schema["paths"]["/orders"]["get"]["security"] == [{"okta": ["orders:read"]}]
    assert schema["paths"]["/reports"]["get"]["security"] == [{"okta": []}]
    flow = schema["components"]["securitySchemes"]["okta"]["flows"]["clientCredentials"]
    assert set(flow["scopes"]) == {"orders:read", "orders:write", "reports:read", "admin"}


def test_readme_app_offers_each_scope_once_in_swagger() -> None:
    """The README's app: Swagger UI prints a scope's name, then its description."""
    okta = OktaAuth(FakeVerifier())
    app = FastAPI()
    okta.install(app)

    @app.get("/orders")
    async def list_orders(
        token: Annotated[AccessToken, Security(okta, scopes=["orders:read"])],
    ) -> str:
        return "ok"

    @app.post("/orders")
    async def create_order(token: Annotated[AccessToken, okta.require("orders:write")]) -> str:
        return "ok"

    schema = TestClient(app).get("/openapi.json").json()
    offered = schema["components"]["securitySchemes"]["okta"]["flows"]["clientCredentials"]
    assert offered["scopes"] == {"orders:read": "", "orders:write": ""}


def test_missing_credentials_body_has_no_error_code() -> None:
    response = TestClient(make_app()).get("/orders")
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]
    assert set(response.json()) == {"error_description"}
