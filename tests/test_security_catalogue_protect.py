"""The rows of ../shared/SECURITY.md about protecting routes, one named test (or a few) each.

Same style as ``test_security_catalogue.py``: each block names its row.  Requests are
raw ASGI calls with the ``path``/``raw_path`` an ASGI server (uvicorn) would produce,
so that what is tested is exactly what the middleware receives.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from okta_guard.errors import ConfigurationError, InvalidTokenError
from okta_guard.protect.bearer import MAX_FORM_SCAN
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.paths import is_plain_path
from okta_guard.protect.scopes import require_scopes
from tests.support.middleware_fakes import FakeVerifier
from tests.support.verifier_helpers import token, verifier

EXCLUDED = ["/health", "/static/", "/docs*"]


async def forward(request: Request) -> JSONResponse:
    """A catch-all handler that forwards the path it got (where a bypass would land)."""
    return JSONResponse({"reached": request.path_params.get("path", ""), "path": request.url.path})


def guarded(**options: Any) -> Starlette:
    options.setdefault("exclude_paths", EXCLUDED)
    return Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST"])],
        middleware=[Middleware(OktaGuardMiddleware, verifier=FakeVerifier(), **options)],
    )


class Body:
    """An ASGI ``receive`` serving ``total`` bytes in ``chunk``-sized messages, counting."""

    def __init__(self, total: int = 0, chunk: int = 64 * 1024) -> None:
        self.left, self.chunk, self.served = total, chunk, 0

    async def __call__(self) -> dict[str, Any]:
        size = min(self.chunk, self.left)
        self.left -= size
        self.served += size
        return {"type": "http.request", "body": b"a" * size, "more_body": self.left > 0}


async def call(
    app: Any,
    path: str,
    *,
    raw_path: bytes | None = None,
    root_path: str = "",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    body: Body | None = None,
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, body or Body(), send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


# Row: path with dot-segments, %2e%2e, an encoded slash, under an excluded prefix -------


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/static/../admin", b"/static/../admin"),
        ("/static/../admin", b"/static/%2e%2e/admin"),  # uvicorn decodes %2e%2e to ..
        ("/static/../admin", b"/static/%2E%2E/admin"),
        ("/static/./../admin", b"/static/./../admin"),
        ("/static/..", b"/static/.."),
        ("/docs/../admin", b"/docs/../admin"),
        ("/docs/../../admin", b"/docs%2f..%2f..%2fadmin"),
        ("/static/a/b", b"/static/a%2Fb"),  # an encoded slash: a second reading is possible
        ("/static/a\\..\\admin", b"/static/a%5C..%5Cadmin"),
        ("/static/%2e%2e/admin", b"/static/%252e%252e/admin"),  # double encoding
        ("/static/..;/admin", b"/static/..;/admin"),  # a path parameter (Tomcat reads ..)
        ("/static//admin", b"/static//admin"),
        ("/health/../admin", b"/health/../admin"),
        ("/static/\x00/admin", b"/static/%00/admin"),
    ],
)
async def test_ambiguous_path_under_an_excluded_prefix_is_authenticated(
    path: str, raw_path: bytes
) -> None:
    status, _ = await call(guarded(), path, raw_path=raw_path)
    assert status == 401


@pytest.mark.parametrize("path", ["/health", "/static/app.css", "/static/", "/docs", "/docs/x.js"])
async def test_plain_excluded_paths_stay_public(path: str) -> None:
    status, _ = await call(guarded(), path)
    assert status == 200


async def test_ambiguous_path_without_server_raw_path_is_authenticated() -> None:
    app = guarded()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/static/../admin", "headers": []}
    await app(scope, Body(), send)
    assert sent[0]["status"] == 401


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/api/static/../admin", "/api", 401),
        ("/api/static/%2e%2e/admin", "/api", 401),
        ("/api/../static/x", "/api", 401),
        ("/api/static/x", "/api", 200),
        ("/api/health", "/api", 200),
        ("/apihealth", "/api", 401),  # not below root_path: matched as a whole, not excluded
    ],
)
async def test_root_path_does_not_open_a_bypass(path: str, root_path: str, expected: int) -> None:
    status, _ = await call(guarded(), path, root_path=root_path)
    assert status == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/v1/static/../admin", 401), ("/v1/static/x", 200), ("/v1/../static/x", 401)],
)
async def test_mounted_app_does_not_open_a_bypass(path: str, expected: int) -> None:
    outer = Starlette(routes=[Mount("/v1", app=guarded())])
    status, _ = await call(outer, path)
    assert status == expected


@pytest.mark.parametrize("pattern", ["/static/../x", "/a//b/", "/a;b", "/a%2e%2e*", "/a\\b"])
def test_exclude_paths_must_be_plain(pattern: str) -> None:
    with pytest.raises(ConfigurationError, match="plain path"):
        OktaGuardMiddleware(Starlette(), verifier=FakeVerifier(), exclude_paths=[pattern])


def test_plain_path_rule() -> None:
    assert is_plain_path("/.well-known/oauth-protected-resource")
    assert is_plain_path("/static/a..b/.hidden")
    assert not is_plain_path("static/x")
    assert not is_plain_path("/static/x", b"/static%2fx")


# Row: unauthenticated request with a huge body, on any path (middleware, require_scopes,
# FastAPI): refused without reading more than a small bound --------------------------


FORM = [(b"content-type", b"application/x-www-form-urlencoded")]
HUGE = 16 * MAX_FORM_SCAN


async def echo_length(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


@pytest.mark.parametrize("layer", ["middleware", "require_scopes"])
async def test_huge_unauthenticated_form_is_refused_after_a_bounded_read(layer: str) -> None:
    fake = FakeVerifier()
    if layer == "middleware":
        app: Any = Starlette(
            routes=[Route("/orders", echo_length, methods=["POST"])],
            middleware=[Middleware(OktaGuardMiddleware, verifier=fake)],
        )
    else:
        endpoint = require_scopes("orders:read", verifier=fake)(echo_length)
        app = Starlette(routes=[Route("/orders", endpoint, methods=["POST"])])
    body = Body(HUGE)
    status, answer = await call(app, "/orders", method="POST", headers=FORM, body=body)
    assert status == 401
    assert "error" not in json.loads(answer)
    assert body.served <= MAX_FORM_SCAN + body.chunk


async def test_huge_unauthenticated_form_is_refused_by_fastapi_after_a_bounded_read() -> None:
    pytest.importorskip("fastapi")
    from fastapi import FastAPI, Security

    from okta_guard.fastapi import OktaAuth

    okta = OktaAuth(FakeVerifier())
    app = FastAPI()
    okta.install(app)

    @app.post("/orders")
    async def orders(token: Any = Security(okta, scopes=["orders:read"])) -> str:  # noqa: B008
        return "ok"

    body = Body(HUGE)
    status, _ = await call(app, "/orders", method="POST", headers=FORM, body=body)
    assert status == 401
    assert body.served <= MAX_FORM_SCAN + body.chunk


async def test_form_with_a_token_in_the_body_is_still_400_without_the_middleware() -> None:
    endpoint = require_scopes("orders:read", verifier=FakeVerifier())(echo_length)
    app = Starlette(routes=[Route("/orders", endpoint, methods=["POST"])])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"a=1&access_token=read", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "headers": FORM,
        "query_string": b"",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400


async def test_authenticated_form_reaches_the_route_whole_without_the_middleware() -> None:
    endpoint = require_scopes("orders:read", verifier=FakeVerifier())(echo_length)
    app = Starlette(routes=[Route("/orders", endpoint, methods=["POST"])])
    headers = [*FORM, (b"authorization", b"Bearer read")]
    body = Body(3 * MAX_FORM_SCAN)
    status, answer = await call(app, "/orders", method="POST", headers=headers, body=body)
    assert (status, answer) == (200, str(3 * MAX_FORM_SCAN).encode())


# Excluded paths get Starlette's UnauthenticatedUser and empty AuthCredentials (issue 10.10)


async def anonymous_view(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "authenticated": request.user.is_authenticated,
            "scopes": list(request.auth.scopes),
            "token": request.state.access_token,
        }
    )


@requires("orders:read")
async def starlette_requires(request: Request) -> Response:
    return PlainTextResponse("secret")  # pragma: no cover - never reached anonymously


async def test_excluded_path_has_an_unauthenticated_user() -> None:
    app = Starlette(
        routes=[Route("/health", anonymous_view), Route("/public/x", starlette_requires)],
        middleware=[
            Middleware(
                OktaGuardMiddleware, verifier=FakeVerifier(), exclude_paths=["/health", "/public/"]
            )
        ],
    )
    status, body = await call(app, "/health")
    assert status == 200
    assert json.loads(body) == {"authenticated": False, "scopes": [], "token": None}
    status, _ = await call(app, "/public/x")
    assert status == 403  # Starlette's requires() answers, instead of a 500


# Row: typ - one rule for a present typ that is not a string (issue 10.12) ----------------


@pytest.mark.parametrize("typ", [None, 1, True, [], {}])
def test_typ_present_but_not_a_string_is_refused(typ: Any) -> None:
    with pytest.raises(InvalidTokenError) as info:
        verifier().verify(token(header={"typ": typ}))
    assert info.value.reason == "bad_typ"


def test_typ_absent_is_accepted() -> None:
    assert verifier().verify(token(header={})).subject == "svc"
