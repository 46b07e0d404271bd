"""Small Starlette apps for ``okta-guard doctor --app`` tests (never served)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from okta_guard import require_scopes


@require_scopes("orders:read")
async def list_orders(request: Request) -> PlainTextResponse:
    return PlainTextResponse("orders")


@require_scopes("orders:write")
async def create_order(request: Request) -> PlainTextResponse:
    return PlainTextResponse("created")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


protected = Starlette(
    routes=[
        Route("/orders", list_orders, methods=["GET"]),
        Route("/orders", create_order, methods=["POST"]),
    ]
)
with_open_route = Starlette(
    routes=[Route("/orders", list_orders, methods=["GET"]), Route("/health", health)]
)
writers_only = Starlette(routes=[Route("/orders", create_order, methods=["POST"])])
