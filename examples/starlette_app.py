"""A Starlette orders API protected by okta-guard.

Run it against your Okta custom authorization server (or ``okta-guard mock-issuer``)::

    export OKTA_ISSUER=https://dev-123456.okta.com/oauth2/default
    export OKTA_AUDIENCE=api://default
    uvicorn examples.starlette_app:app

* ``GET /health``            public
* ``GET /orders``            needs ``orders:read``
* ``POST /orders``           needs ``orders:write``
* ``WS /orders/live``        needs ``orders:read``
* ``GET /me``                any valid token
* ``/.well-known/oauth-protected-resource``  RFC 9728 metadata (served by the middleware)

The key cache is prewarmed at startup by the middleware.  ``create_app(verifier)``
lets tests inject a verifier bound to the mock issuer.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from okta_guard import OktaGuardMiddleware, TokenVerifier, Verifier, require_scopes

ORDERS: list[dict[str, Any]] = [{"id": 1, "item": "coffee"}]


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@require_scopes("orders:read")
async def list_orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": ORDERS, "client": request.user.client_id})


@require_scopes("orders:write")
async def create_order(request: Request) -> JSONResponse:
    order = {"id": len(ORDERS) + 1, **(await request.json())}
    return JSONResponse(order, status_code=201)


async def me(request: Request) -> JSONResponse:
    token = request.user
    return JSONResponse({"subject": token.subject, "scopes": sorted(request.auth.scopes)})


@require_scopes("orders:read")
async def live_orders(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"orders": ORDERS})
    await websocket.close()


def create_app(verifier: Verifier | None = None) -> Starlette:
    """Build the app; without ``verifier`` one is read from OKTA_ISSUER/OKTA_AUDIENCE."""
    if verifier is None:
        verifier = TokenVerifier.from_env()
    return Starlette(
        routes=[
            Route("/health", health),
            Route("/orders", list_orders, methods=["GET"]),
            Route("/orders", create_order, methods=["POST"]),
            Route("/me", me),
            WebSocketRoute("/orders/live", live_orders),
        ],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier, exclude_paths=["/health"])],
    )


def __getattr__(name: str) -> Any:
    # ``app`` is built on first access so that importing this module needs no settings.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
