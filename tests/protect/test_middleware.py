"""OktaGuardMiddleware: RFC 6750 answers, user/auth/state, exclusions, websockets, lifespan."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from okta_guard.errors import IssuerUnavailableError
from okta_guard.protect.middleware import OktaGuardMiddleware, PathMatcher
from tests.support.middleware_fakes import FakeVerifier, bearer

META = "http://testserver/.well-known/oauth-protected-resource"


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "user": request.user.display_name,
            "authenticated": request.user.is_authenticated,
            "scopes": sorted(request.auth.scopes),
            "state": request.state.access_token is request.user
            if request.state.access_token is not None
            else None,
        }
    )


@requires("orders:read")
async def starlette_requires(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def echo(request: Request) -> Response:
    return Response(await request.body())


async def public(request: Request) -> PlainTextResponse:
    return PlainTextResponse("public")


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.user.display_name})
    await websocket.close()


def build(verifier: FakeVerifier | None = None, **options: Any) -> Starlette:
    verifier = verifier or FakeVerifier()
    options.setdefault("exclude_paths", ["/health", "/docs*", "/public/"])
    return Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/requires", starlette_requires),
            Route("/echo", echo, methods=["POST"]),
            Route("/health", public),
            Route("/health/", public),
            Route("/docs/{rest:path}", public),
            Route("/docsfoo", public),
            Route("/public", public),
            Route("/public/{rest:path}", public),
            Route("/publicx", public),
            WebSocketRoute("/ws", ws),
        ],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier, **options)],
    )


@pytest.fixture
def client() -> TestClient:
    return TestClient(build())


def test_valid_token_sets_user_auth_and_state(client: TestClient) -> None:
    response = client.get("/whoami", headers=bearer("both"))
    assert response.status_code == 200
    assert response.json() == {
        "user": "alice@example.com",
        "authenticated": True,
        "scopes": ["orders:read", "orders:write"],
        "state": True,
    }


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(client: TestClient, scheme: str) -> None:
    assert client.get("/whoami", headers={"Authorization": f"{scheme} read"}).status_code == 200


def test_no_credentials_is_401_without_error_code(client: TestClient) -> None:
    response = client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api://orders", resource_metadata="{META}"'
    )
    # RFC 6750 §3.1: no error code, neither in the challenge nor in the body
    assert "error" not in response.json()
    assert "Authorization" in response.json()["error_description"]
    assert response.headers["content-type"] == "application/json"


def test_other_scheme_counts_as_no_credentials(client: TestClient) -> None:
    response = client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


def test_invalid_token_is_401_invalid_token(client: TestClient) -> None:
    response = client.get("/whoami", headers=bearer("forged"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api://orders", error="invalid_token", '
        f'error_description="The access token is invalid.", resource_metadata="{META}"'
    )
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token is invalid.",
    }


def test_issuer_unavailable_is_503_with_retry_after(client: TestClient) -> None:
    response = client.get("/whoami", headers=bearer("down"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "8"
    assert "www-authenticate" not in response.headers
    assert response.json()["error"] == "temporarily_unavailable"


def test_starlette_requires_works_with_auth_scopes(client: TestClient) -> None:
    assert client.get("/requires", headers=bearer("read")).status_code == 200
    assert client.get("/requires", headers=bearer("write")).status_code == 403


async def call_raw(
    app: Any, headers: list[tuple[bytes, bytes]], path: str = "/whoami", query: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Call the ASGI app with exact header bytes (no client normalisation)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer",
        b"Bearer ",
        b"",
        b"Bearer read extra",
        b"Bearer read,other",
        b"Bearer\tread",
        b" Bearer read",
        b"Bearer read ",
        b'Bearer re"ad',
        b"Bearer r\xc3\xa9ad",
        b"Bearer =read",
        b"Bearer read=x",
    ],
)
async def test_malformed_authorization_is_400(value: bytes) -> None:
    verifier = FakeVerifier()
    status, headers, body = await call_raw(build(verifier), [(b"authorization", value)])
    assert status == 400
    assert headers[b"www-authenticate"].startswith(
        b'Bearer realm="api://orders", error="invalid_request"'
    )
    assert json.loads(body)["error"] == "invalid_request"
    assert verifier.verified == []


async def test_multiple_spaces_are_allowed_by_rfc6750_grammar() -> None:
    status, _, _ = await call_raw(build(), [(b"authorization", b"Bearer   read")])
    assert status == 200


async def test_two_authorization_headers_are_400() -> None:
    status, _, body = await call_raw(
        build(), [(b"authorization", b"Bearer read"), (b"authorization", b"Bearer read")]
    )
    assert status == 400
    assert b"more than one" in body


@pytest.mark.parametrize(
    "query",
    [b"access_token=read", b"a=1&access_token=", b"access%5Ftoken=read", b"x=1&access_token"],
)
async def test_token_in_query_is_400(query: bytes) -> None:
    for headers in ([], [(b"authorization", b"Bearer read")]):
        status, _, body = await call_raw(build(), headers, query=query)
        assert status == 400
        assert json.loads(body)["error"] == "invalid_request"


async def test_query_with_similar_names_is_fine() -> None:
    status, _, _ = await call_raw(
        build(), [(b"authorization", b"Bearer read")], query=b"my_access_token=1&x=%20"
    )
    assert status == 200


def test_token_in_form_body_is_400(client: TestClient) -> None:
    response = client.post("/echo", data={"access_token": "read"}, headers=bearer("read"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_form_body_is_replayed_to_the_app(client: TestClient) -> None:
    response = client.post("/echo", data={"a": "1", "b": "two"}, headers=bearer("read"))
    assert response.status_code == 200
    assert response.content == b"a=1&b=two"


def test_form_body_check_can_be_disabled() -> None:
    client = TestClient(build(check_form_body=False))
    response = client.post("/echo", data={"access_token": "x"}, headers=bearer("read"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/health", 200),
        ("/health/", 401),
        ("/docs/", 200),
        ("/docs/oauth2-redirect", 200),
        ("/docsfoo", 200),
        ("/public", 200),
        ("/public/a/b", 200),
        ("/publicx", 401),
        ("/whoami", 401),
    ],
)
def test_exclude_paths(client: TestClient, path: str, status: int) -> None:
    assert client.get(path, follow_redirects=False).status_code == status


def test_path_matcher_rejects_relative_patterns() -> None:
    with pytest.raises(ValueError, match="must be a path"):
        PathMatcher(["health"])


def test_allow_anonymous_lets_missing_credentials_through() -> None:
    client = TestClient(build(allow_anonymous=True))
    response = client.get("/whoami")
    assert response.status_code == 200
    assert response.json() == {"user": "", "authenticated": False, "scopes": [], "state": None}
    assert client.get("/whoami", headers=bearer("forged")).status_code == 401
    assert client.get("/whoami", headers=bearer("down")).status_code == 503
    assert client.get("/whoami", headers={"Authorization": "Bearer"}).status_code == 400
    assert client.get("/whoami", headers=bearer("read")).json()["authenticated"] is True


def test_realm_and_descriptions_are_escaped() -> None:
    client = TestClient(build(realm='my "realm" \\ x', resource_metadata=None))
    response = client.get("/whoami")
    assert response.headers["www-authenticate"] == 'Bearer realm="my \\"realm\\" \\\\ x"'


def test_resource_metadata_url_string_is_advertised_not_served() -> None:
    client = TestClient(build(resource_metadata="https://api.example.com/meta"))
    challenge = client.get("/whoami").headers["www-authenticate"]
    assert challenge.endswith('resource_metadata="https://api.example.com/meta"')
    assert client.get("/.well-known/oauth-protected-resource").status_code == 401


def test_bad_resource_metadata_option() -> None:
    with pytest.raises(ValueError, match="resource_metadata"):
        OktaGuardMiddleware(build(), verifier=FakeVerifier(), resource_metadata=42)  # type: ignore[arg-type]


def test_verifier_is_required() -> None:
    with pytest.raises(ValueError, match="verifier"):
        OktaGuardMiddleware(build(), verifier=None)  # type: ignore[arg-type]


def test_websocket_valid_token(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers=bearer("read")) as session:
        assert session.receive_json() == {"user": "alice@example.com"}


@pytest.mark.parametrize(
    ("headers", "code", "reason"),
    [
        ({}, 1008, "invalid_token"),
        (bearer("forged"), 1008, "invalid_token"),
        ({"Authorization": "Bearer"}, 1008, "invalid_request"),
        (bearer("down"), 1013, "temporarily_unavailable"),
    ],
)
def test_websocket_refused_before_accept(
    client: TestClient, headers: dict[str, str], code: int, reason: str
) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake is refused
    assert info.value.code == code
    assert info.value.reason == reason


def test_websocket_token_in_query_is_refused(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("/ws?access_token=read"),
    ):
        pass  # pragma: no cover
    assert info.value.code == 1008


def test_lifespan_prewarms_the_key_cache() -> None:
    verifier = FakeVerifier()
    with TestClient(build(verifier)) as client:
        assert verifier.prewarmed == 1
        assert client.get("/health").status_code == 200


def test_prewarm_failure_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    verifier = FakeVerifier(fail_prewarm=True)
    with TestClient(build(verifier)) as client:
        assert client.get("/whoami", headers=bearer("read")).status_code == 200
    assert verifier.prewarmed == 1
    assert "could not prewarm" in caplog.text


def test_strict_startup_fails_the_lifespan() -> None:
    verifier = FakeVerifier(fail_prewarm=True)
    with pytest.raises(IssuerUnavailableError), TestClient(build(verifier, strict_startup=True)):
        pass  # pragma: no cover


def test_prewarm_can_be_disabled() -> None:
    verifier = FakeVerifier()
    with TestClient(build(verifier, prewarm=False)):
        pass
    assert verifier.prewarmed == 0


def test_mounted_app_matches_paths_inside_the_mount() -> None:
    inner = build()
    outer = Starlette(routes=[Mount("/api", app=inner)])
    client = TestClient(outer)
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/whoami").status_code == 401
    assert client.get("/api/whoami", headers=bearer("read")).status_code == 200


def test_wrapping_a_whole_app_directly() -> None:
    inner = Starlette(routes=[Route("/whoami", whoami)])
    app = OktaGuardMiddleware(inner, verifier=FakeVerifier(), resource_metadata=False)
    client = TestClient(app)
    assert client.get("/whoami").headers["www-authenticate"] == 'Bearer realm="api://orders"'
    assert client.get("/whoami", headers=bearer("read")).status_code == 200
    assert "okta.localhost" in repr(app)
    assert "read" not in repr(app)


def test_default_realm_without_audience() -> None:
    verifier = FakeVerifier()
    verifier.audience = ("a", "b")  # type: ignore[assignment]
    assert OktaGuardMiddleware(Starlette(), verifier=verifier).realm == "a"
    verifier.audience = None  # type: ignore[assignment]
    assert OktaGuardMiddleware(Starlette(), verifier=verifier).realm == "api"


async def test_pure_asgi_passes_send_and_receive_through_untouched() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope=scope, receive=receive, send=send)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    from starlette.middleware.base import BaseHTTPMiddleware

    assert not issubclass(OktaGuardMiddleware, BaseHTTPMiddleware)
    app = OktaGuardMiddleware(inner, verifier=FakeVerifier())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer read")],
    }
    await app(scope, receive, send)
    assert seen["receive"] is receive
    assert seen["send"] is send
    assert seen["scope"]["user"].display_name == "alice@example.com"
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_other_scope_types_pass_through() -> None:
    calls: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    app = OktaGuardMiddleware(inner, verifier=FakeVerifier(), prewarm=False)
    await app({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    await app({"type": "custom"}, None, None)  # type: ignore[arg-type]
    assert calls == ["lifespan", "custom"]


def test_websocket_http_denial_sends_the_full_answer() -> None:
    from starlette.testclient import WebSocketDenialResponse

    client = TestClient(build(websocket_http_denial=True))
    with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.headers["www-authenticate"].startswith('Bearer realm="api://orders"')
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        client.websocket_connect("/ws", headers=bearer("down")),
    ):
        pass  # pragma: no cover
    assert info.value.status_code == 503
    assert info.value.headers["retry-after"] == "8"
    with client.websocket_connect("/ws", headers=bearer("read")) as session:
        assert session.receive_json() == {"user": "alice@example.com"}


async def test_websocket_http_denial_falls_back_to_close_without_the_extension() -> None:
    app = build(websocket_http_denial=True)
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "websocket.connect"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "ws",
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid_token"}]
