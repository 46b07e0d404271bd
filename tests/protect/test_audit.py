"""audit_routes and ``okta-guard routes``: listing routes, scopes and unprotected ones."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route, Router, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from okta_guard import require_scopes
from okta_guard.cli import main
from okta_guard.protect.audit import RouteInfo, audit_routes, format_table
from okta_guard.protect.metadata import metadata_route
from okta_guard.protect.middleware import OktaGuardMiddleware
from tests.support.middleware_fakes import FakeVerifier


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x")


@require_scopes("orders:read")
async def read(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x")


@require_scopes(any_of=["a", "b"])
def any_ab(request: Request) -> PlainTextResponse:
    return PlainTextResponse("x")


class Items(HTTPEndpoint):
    @require_scopes("items:read")
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("x")

    async def delete(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("x")


@require_scopes("live")
class Live(WebSocketEndpoint):
    pass


async def ws(websocket: WebSocket) -> None:
    await websocket.close()


def routes(tmp_path: Path) -> list[object]:
    return [
        Route("/plain", plain),
        Route("/read", read),
        Route("/any", any_ab, methods=["GET", "POST"]),
        Route("/items", Items),
        WebSocketRoute("/live", Live),
        WebSocketRoute("/ws", ws),
        Mount("/v2", routes=[Route("/read", read), Route("/plain", plain)]),
        Mount("/static", app=StaticFiles(directory=tmp_path)),
        Host("api.example.com", app=Router(routes=[Route("/hosted", read)])),
    ]


def by_key(infos: list[RouteInfo]) -> dict[tuple[str, tuple[str, ...]], RouteInfo]:
    return {(i.path, i.methods): i for i in infos}


def test_audit_without_middleware(tmp_path: Path) -> None:
    infos = by_key(audit_routes(Starlette(routes=routes(tmp_path))))
    assert infos[("/plain", ("GET",))].unprotected
    assert infos[("/read", ("GET",))] == RouteInfo(
        "/read", ("GET",), "read", ("orders:read",), (), True, False, "require_scopes"
    )
    assert infos[("/any", ("GET", "POST"))].any_of == ("a", "b")
    assert infos[("/items", ("GET",))].scopes == ("items:read",)
    assert infos[("/items", ("DELETE",))].unprotected
    assert infos[("/live", ("WEBSOCKET",))].scopes == ("live",)
    assert infos[("/ws", ("WEBSOCKET",))].unprotected
    assert infos[("/v2/read", ("GET",))].protected
    assert infos[("/v2/plain", ("GET",))].unprotected
    assert infos[("/static/{path}", ("*",))].unprotected
    assert infos[("/hosted", ("GET",))].protected


def test_audit_with_middleware(tmp_path: Path) -> None:
    app = Starlette(
        routes=routes(tmp_path),
        middleware=[
            Middleware(
                OktaGuardMiddleware, verifier=FakeVerifier(), exclude_paths=["/static/", "/ws"]
            )
        ],
    )
    infos = by_key(audit_routes(app))
    assert infos[("/plain", ("GET",))].protected
    assert infos[("/plain", ("GET",))].source == "middleware"
    assert infos[("/items", ("DELETE",))].protected
    assert infos[("/static/{path}", ("*",))].excluded
    assert infos[("/ws", ("WEBSOCKET",))].excluded
    assert infos[("/.well-known/oauth-protected-resource", ("GET", "HEAD"))].excluded
    assert not any(i.unprotected for i in infos.values())


def test_audit_anonymous_middleware_leaves_undecorated_routes_unprotected() -> None:
    app = OktaGuardMiddleware(
        Starlette(routes=[Route("/plain", plain), Route("/read", read)]),
        verifier=FakeVerifier(),
        allow_anonymous=True,
        resource_metadata=None,
    )
    infos = by_key(audit_routes(app))
    assert infos[("/plain", ("GET",))].unprotected
    assert infos[("/read", ("GET",))].protected
    assert len(infos) == 2


def test_public_paths_and_metadata_route() -> None:
    app = Starlette(routes=[Route("/health", plain), metadata_route("http://x.localhost/oauth2/a")])
    infos = audit_routes(app, public_paths=["/health"])
    assert [i.excluded for i in infos] == [True, True]
    assert not any(i.unprotected for i in infos)


def test_format_table() -> None:
    table = format_table(
        [
            RouteInfo("/a", ("GET",), "a", ("x", "y"), ("z",), True, False, "require_scopes"),
            RouteInfo("/b", ("POST",), "b"),
            RouteInfo("/c", ("GET",), "c", excluded=True),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "SCOPES", "STATUS"]
    assert "x y any of(z)" in lines[1]
    assert lines[1].endswith("protected (require_scopes)")
    assert lines[2].endswith("UNPROTECTED")
    assert lines[3].endswith("public")


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"audited_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from starlette.applications import Starlette
            from starlette.responses import PlainTextResponse
            from starlette.routing import Route
            from okta_guard import require_scopes

            @require_scopes("orders:read")
            async def read(request):
                return PlainTextResponse("x")

            async def health(request):
                return PlainTextResponse("x")

            app = Starlette(routes=[Route("/orders", read), Route("/health", health)])

            def make():
                return app
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_cli_routes_flags_unprotected(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", f"{app_module}:app"]) == 1
    out, err = capsys.readouterr()
    assert "/orders" in out
    assert "orders:read" in out
    assert "UNPROTECTED" in out
    assert "1 unprotected route" in err
    assert main(["routes", f"{app_module}:app", "--exit-zero"]) == 0
    assert main(["routes", f"{app_module}:make", "--factory", "--public", "/health"]) == 0


def test_cli_routes_json(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", f"{app_module}:app", "--json", "--public", "/health"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["path"] == "/orders"
    assert data[0]["scopes"] == ["orders:read"]
    assert data[1]["excluded"] is True


@pytest.mark.parametrize("target", ["nocolon", "no_such_module_xyz:app", "json:nothing_here"])
def test_cli_routes_bad_target(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["routes", target]) == 1
    assert "okta-guard: error:" in capsys.readouterr().err


def test_cli_routes_on_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKTA_ISSUER", "https://dev-123456.okta.com/oauth2/default")
    monkeypatch.setenv("OKTA_AUDIENCE", "api://orders")
    assert main(["routes", "examples.starlette_app:create_app", "--factory"]) == 0
    out = capsys.readouterr().out
    assert "orders:write" in out
    assert "UNPROTECTED" not in out


def test_middleware_inside_a_mount_covers_only_that_mount() -> None:
    inner = Starlette(
        routes=[Route("/health", plain), Route("/plain", plain)],
        middleware=[
            Middleware(
                OktaGuardMiddleware,
                verifier=FakeVerifier(),
                exclude_paths=["/health"],
                resource_metadata=False,
            )
        ],
    )
    outer = Starlette(routes=[Mount("/api", app=inner), Route("/open", plain)])
    infos = {i.path: i for i in audit_routes(outer)}
    assert infos["/api/health"].excluded
    assert infos["/api/plain"].protected
    assert infos["/api/plain"].source == "middleware"
    assert infos["/open"].unprotected
    assert set(infos) == {"/api/health", "/api/plain", "/open"}
