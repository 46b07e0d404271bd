"""RFC 9728 protected-resource metadata: served document and challenge URLs."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from okta_guard import require_scopes
from okta_guard.errors import ConfigurationError
from okta_guard.protect.metadata import ProtectedResourceMetadata, metadata_route
from okta_guard.protect.middleware import OktaGuardMiddleware
from tests.support.middleware_fakes import ISSUER, FakeVerifier, bearer

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@require_scopes("orders:read")
async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x")


@require_scopes(any_of=["admin", "orders:write"])
async def write(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x")


ROUTES = [Route("/orders", read), Route("/orders", write, methods=["POST"])]


def app_with(**options: object) -> TestClient:
    return TestClient(
        Starlette(
            routes=ROUTES,
            middleware=[Middleware(OktaGuardMiddleware, verifier=FakeVerifier(), **options)],
        )
    )


def test_middleware_serves_metadata_without_a_token() -> None:
    response = app_with().get(WELL_KNOWN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "resource": "http://testserver",
        "authorization_servers": [ISSUER],
        "scopes_supported": ["admin", "orders:read", "orders:write"],
        "bearer_methods_supported": ["header"],
    }


def test_head_and_other_methods() -> None:
    client = app_with()
    head = client.head(WELL_KNOWN)
    assert head.status_code == 200
    assert head.content == b""
    post = client.post(WELL_KNOWN)
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


def test_configured_resource_with_path() -> None:
    client = app_with(resource="https://api.example.com/orders", scopes_supported=["x"])
    assert client.get(WELL_KNOWN).status_code == 401  # not the metadata path any more
    doc = client.get(WELL_KNOWN + "/orders").json()
    assert doc["resource"] == "https://api.example.com/orders"
    assert doc["scopes_supported"] == ["x"]
    challenge = client.get("/orders").headers["www-authenticate"]
    assert challenge.endswith(
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/orders"'
    )


def test_metadata_url_follows_the_host_header() -> None:
    client = app_with()
    response = client.get("/orders", headers={"Host": "api.example.com:8443"})
    assert response.headers["www-authenticate"].endswith(
        'resource_metadata="http://api.example.com:8443/.well-known/oauth-protected-resource"'
    )


def test_resource_metadata_in_403_but_not_400_or_503() -> None:
    client = app_with()
    assert (
        "resource_metadata"
        in client.get("/orders", headers=bearer("write")).headers["www-authenticate"]
    )
    assert (
        "resource_metadata"
        not in client.get("/orders", headers={"Authorization": "Bearer"}).headers[
            "www-authenticate"
        ]
    )
    assert "www-authenticate" not in client.get("/orders", headers=bearer("down")).headers


def test_opt_out() -> None:
    client = app_with(resource_metadata=False)
    assert client.get(WELL_KNOWN).status_code == 401
    assert client.get("/orders").headers["www-authenticate"] == 'Bearer realm="api://orders"'


def test_metadata_route_without_middleware() -> None:
    app = Starlette(routes=[*ROUTES, metadata_route(ISSUER, extra={"resource_name": "Orders"})])
    app.state.okta_guard_verifier = FakeVerifier()
    client = TestClient(app)
    doc = client.get(WELL_KNOWN).json()
    assert doc["resource_name"] == "Orders"
    assert doc["scopes_supported"] == ["admin", "orders:read", "orders:write"]
    assert (
        client.get("/orders")
        .headers["www-authenticate"]
        .endswith(f'resource_metadata="http://testserver{WELL_KNOWN}"')
    )


@pytest.mark.parametrize("resource", ["api.example.com", "ftp://x/y", "https://x/#frag"])
def test_bad_resource_identifier(resource: str) -> None:
    with pytest.raises(ConfigurationError, match="resource identifier"):
        ProtectedResourceMetadata(ISSUER, resource=resource)


def test_origin_without_host_header() -> None:
    meta = ProtectedResourceMetadata(ISSUER)
    scope = {"type": "http", "scheme": "wss", "headers": [], "server": ("10.0.0.1", 443)}
    assert meta.resource_for(scope) == "https://10.0.0.1"
    scope = {"type": "http", "scheme": "http", "headers": [], "server": ("10.0.0.1", 8080)}
    assert meta.metadata_url(scope) == f"http://10.0.0.1:8080{WELL_KNOWN}"
    assert meta.resource_for({"type": "http", "headers": []}) == "http://localhost"


def test_mounted_app_advertises_a_reachable_url() -> None:
    inner = Starlette(
        routes=ROUTES,
        middleware=[Middleware(OktaGuardMiddleware, verifier=FakeVerifier())],
    )
    client = TestClient(Starlette(routes=[Mount("/api", app=inner)]))
    challenge = client.get("/api/orders").headers["www-authenticate"]
    url = f"http://testserver/api{WELL_KNOWN}"
    assert challenge.endswith(f'resource_metadata="{url}"')
    doc = client.get(url).json()
    assert doc["resource"] == "http://testserver/api"
