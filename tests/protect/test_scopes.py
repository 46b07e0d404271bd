"""require_scopes on Starlette endpoints, with and without the middleware."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from okta_guard import require_scopes
from okta_guard.errors import ConfigurationError
from okta_guard.protect.metadata import metadata_route
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.scopes import ScopeRequirement, get_requirement
from tests.support.middleware_fakes import FakeVerifier, bearer, make_token


@require_scopes("orders:read")
async def read_async(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "scopes": sorted(request.auth.scopes)})


@require_scopes("orders:read", "orders:write")
def both_sync(request: Request) -> PlainTextResponse:
    return PlainTextResponse("both")


@require_scopes(any_of=["orders:write", "admin"])
async def any_write(request: Request) -> PlainTextResponse:
    return PlainTextResponse("any")


class Orders(HTTPEndpoint):
    @require_scopes("orders:read")
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("get")

    @require_scopes("orders:write")
    def post(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("post")


@require_scopes("admin")
class Admin(HTTPEndpoint):
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin")


@require_scopes("orders:read")
async def ws_func(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.display_name)
    await websocket.close()


@require_scopes("orders:read")
class WsClass(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("class")


class WsOnConnect(WebSocketEndpoint):
    encoding = "text"

    @require_scopes("orders:read")
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("on_connect")


async def open_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("open")


ROUTES = [
    Route("/read", read_async),
    Route("/both", both_sync),
    Route("/any", any_write),
    Route("/orders", Orders, methods=["GET", "POST"]),
    Route("/admin", Admin),
    Route("/open", open_route),
    WebSocketRoute("/ws", ws_func),
    WebSocketRoute("/ws-class", WsClass),
    WebSocketRoute("/ws-on-connect", WsOnConnect),
]


def with_middleware(**options: Any) -> TestClient:
    return TestClient(
        Starlette(
            routes=ROUTES,
            middleware=[Middleware(OktaGuardMiddleware, verifier=FakeVerifier(), **options)],
        )
    )


def app_state_verifier() -> TestClient:
    app = Starlette(routes=[*ROUTES, metadata_route("http://okta.localhost/oauth2/default")])
    app.state.okta_guard_verifier = FakeVerifier()
    return TestClient(app)


MODES = {
    "middleware": lambda: with_middleware(),
    "anonymous-middleware": lambda: with_middleware(allow_anonymous=True),
    "excluded-middleware": lambda: with_middleware(exclude_paths=["/*"]),
    "app-state": app_state_verifier,
}


@pytest.fixture(params=sorted(MODES))
def client(request: pytest.FixtureRequest) -> TestClient:
    return MODES[request.param]()


@pytest.mark.parametrize(
    ("method", "path", "token", "status", "text"),
    [
        ("GET", "/read", "read", 200, None),
        ("GET", "/read", "write", 403, None),
        ("GET", "/both", "both", 200, "both"),
        ("GET", "/both", "read", 403, None),
        ("GET", "/any", "write", 200, "any"),
        ("GET", "/any", "admin", 200, "any"),
        ("GET", "/any", "read", 403, None),
        ("GET", "/orders", "read", 200, "get"),
        ("GET", "/orders", "write", 403, None),
        ("POST", "/orders", "write", 200, "post"),
        ("POST", "/orders", "read", 403, None),
        ("GET", "/admin", "admin", 200, "admin"),
        ("GET", "/admin", "read", 403, None),
        ("GET", "/read", "forged", 401, None),
        ("GET", "/read", "down", 503, None),
    ],
)
def test_http_answers(
    client: TestClient, method: str, path: str, token: str, status: int, text: str | None
) -> None:
    response = client.request(method, path, headers=bearer(token))
    assert response.status_code == status
    if text is not None:
        assert response.text == text
    if status == 403:
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert response.json()["error"] == "insufficient_scope"
    if status == 401:
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    if status == 503:
        assert response.headers["retry-after"] == "8"


def test_403_scope_attribute_lists_required_scopes(client: TestClient) -> None:
    response = client.get("/both", headers=bearer("read"))
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api://orders", error="insufficient_scope", error_description="'
    )
    assert 'scope="orders:read orders:write"' in response.headers["www-authenticate"]
    response = client.get("/any", headers=bearer("read"))
    assert 'scope="orders:write admin"' in response.headers["www-authenticate"]
    assert "one of" in response.json()["error_description"]


def test_missing_credentials(client: TestClient) -> None:
    response = client.get("/read")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api://orders"')
    assert "error=" not in challenge
    assert challenge.endswith(
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource"'
    )


def test_malformed_and_query_token(client: TestClient) -> None:
    assert client.get("/read", headers={"Authorization": "Bearer a b"}).status_code == 400
    response = client.get("/read?access_token=read", headers=bearer("read"))
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_user_is_set_for_the_endpoint(client: TestClient) -> None:
    assert client.get("/read", headers=bearer("read")).json() == {
        "user": "alice@example.com",
        "scopes": ["orders:read"],
    }


def test_open_route_without_decorator() -> None:
    assert app_state_verifier().get("/open").text == "open"


@pytest.mark.parametrize("path", ["/ws", "/ws-class", "/ws-on-connect"])
def test_websockets(client: TestClient, path: str) -> None:
    with client.websocket_connect(path, headers=bearer("read")) as session:
        assert session.receive_text()
    for headers, code in ((bearer("write"), 1008), ({}, 1008), (bearer("down"), 1013)):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect(path, headers=headers),
        ):
            pass  # pragma: no cover
        assert info.value.code == code


def test_explicit_verifier_without_any_app_configuration() -> None:
    verifier = FakeVerifier()

    @require_scopes("orders:read", verifier=verifier, realm="orders", resource_metadata="")
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    client = TestClient(Starlette(routes=[Route("/x", endpoint)]))
    assert client.get("/x", headers=bearer("read")).text == "ok"
    assert client.get("/x").headers["www-authenticate"] == 'Bearer realm="orders"'
    assert verifier.verified == ["read"]


def test_no_verifier_anywhere_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(Starlette(routes=[Route("/read", read_async)]))
    response = client.get("/read", headers=bearer("read"))
    assert response.status_code == 500
    assert response.json()["error"] == "configuration_error"
    assert "www-authenticate" not in response.headers
    assert "No verifier" in caplog.text


def test_requirement_is_stored_on_endpoints() -> None:
    assert get_requirement(both_sync) == ScopeRequirement(("orders:read", "orders:write"), ())
    assert get_requirement(any_write) == ScopeRequirement((), ("orders:write", "admin"))
    assert get_requirement(Orders.get) == ScopeRequirement(("orders:read",), ())
    assert get_requirement(Admin) == ScopeRequirement(("admin",), ())
    assert get_requirement(open_route) is None


def test_stacked_decorators_require_everything() -> None:
    @require_scopes("a")
    @require_scopes("b")
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    assert get_requirement(endpoint) == ScopeRequirement(("b", "a"), ())
    client = TestClient(
        Starlette(
            routes=[Route("/x", endpoint)],
            middleware=[Middleware(OktaGuardMiddleware, verifier=FakeVerifier())],
        )
    )
    assert client.get("/x", headers=bearer("admin")).status_code == 403


@pytest.mark.parametrize("bad", ["", "a b", 'q"uote', "back\\slash"])
def test_invalid_scope_names_are_configuration_errors(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        require_scopes(bad)
    with pytest.raises(ConfigurationError):
        require_scopes(any_of=[bad])


def test_empty_any_of_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        require_scopes(any_of=[])


def test_decorating_a_non_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        require_scopes("a")(42)  # type: ignore[type-var]


def test_all_of_and_any_of_together() -> None:
    @require_scopes("orders:read", any_of=["orders:write", "admin"])
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    verifier = FakeVerifier()
    verifier.tokens["read+admin"] = make_token("orders:read", "admin")
    client = TestClient(
        Starlette(
            routes=[Route("/x", endpoint)],
            middleware=[Middleware(OktaGuardMiddleware, verifier=verifier)],
        )
    )
    assert client.get("/x", headers=bearer("both")).status_code == 200
    assert client.get("/x", headers=bearer("read+admin")).status_code == 200
    only_read = client.get("/x", headers=bearer("read"))
    assert only_read.status_code == 403
    assert 'scope="orders:write admin"' in only_read.headers["www-authenticate"]
    missing_read = client.get("/x", headers=bearer("write"))
    assert 'scope="orders:read"' in missing_read.headers["www-authenticate"]
