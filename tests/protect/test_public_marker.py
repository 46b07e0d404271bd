"""``@public`` marks open routes for the route audit; the project's own examples pass it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from okta_guard import audit_routes, public, require_scopes

ROOT = Path(__file__).resolve().parents[2]


async def _open(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_a_marked_function_is_public_an_unmarked_one_is_flagged() -> None:
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/health", public(health)), Route("/forgotten", _open)])
    infos = {info.path: info for info in audit_routes(app)}
    assert infos["/health"].excluded and not infos["/health"].unprotected
    assert infos["/forgotten"].unprotected


def test_a_marked_endpoint_class_is_public() -> None:
    @public
    class Status(HTTPEndpoint):
        async def get(self, request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

    (info,) = audit_routes(Starlette(routes=[Route("/status", Status)]))
    assert info.excluded
    assert not info.unprotected


def test_require_scopes_wins_over_public() -> None:
    @public
    @require_scopes("orders:read")
    async def orders(request: Request) -> PlainTextResponse:
        return PlainTextResponse("orders")

    (info,) = audit_routes(Starlette(routes=[Route("/orders", orders)]))
    assert info.protected
    assert info.scopes == ("orders:read",)


def test_public_refuses_what_it_cannot_mark() -> None:
    with pytest.raises(TypeError, match="cannot mark"):
        public(42)


def test_public_changes_nothing_at_request_time() -> None:
    from starlette.testclient import TestClient

    app = Starlette(routes=[Route("/health", public(_open))])
    assert TestClient(app).get("/health").text == "ok"


@pytest.mark.parametrize("target", ["examples.fastapi_app:app", "examples.starlette_app:app"])
def test_the_examples_pass_their_own_route_audit(target: str) -> None:
    env = {
        "PATH": "",
        "OKTA_ISSUER": "http://127.0.0.1:9/oauth2/default",
        "OKTA_AUDIENCE": "api://default",
    }
    done = subprocess.run(
        [sys.executable, "-m", "okta_guard", "routes", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "UNPROTECTED" not in done.stdout
    assert "/health" in done.stdout
