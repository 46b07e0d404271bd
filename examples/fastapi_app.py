"""A FastAPI orders API protected by okta-guard (needs the ``fastapi`` extra).

Run it against your Okta custom authorization server (or ``okta-guard mock-issuer``)::

    export OKTA_ISSUER=https://dev-123456.okta.com/oauth2/default
    export OKTA_AUDIENCE=api://default
    uvicorn examples.fastapi_app:app

Open http://127.0.0.1:8000/docs: every operation shows its scopes and the
*Authorize* button uses the client-credentials flow against ``{issuer}/v1/token``.

* ``GET /health``            public (marked ``@public`` for the route audit)
* ``GET /orders``            needs ``orders:read``
* ``POST /orders``           needs ``orders:write``
* ``WS /orders/live``        needs ``orders:read``
* ``/.well-known/oauth-protected-resource``  RFC 9728 metadata

The verifier's key cache is prewarmed in the lifespan.  ``create_app(verifier)``
lets tests inject a verifier bound to the mock issuer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Security, WebSocket
from pydantic import BaseModel

from okta_guard import AccessToken, IssuerUnavailableError, TokenVerifier, Verifier, public
from okta_guard.fastapi import OktaAuth

logger = logging.getLogger("orders")
ORDERS: list[dict[str, Any]] = [{"id": 1, "item": "coffee"}]


class NewOrder(BaseModel):
    item: str


def create_app(verifier: Verifier | None = None) -> FastAPI:
    """Build the app; without ``verifier`` one is read from OKTA_ISSUER/OKTA_AUDIENCE."""
    if verifier is None:
        verifier = TokenVerifier.from_env()
    okta = OktaAuth(
        verifier,
        scopes={"orders:read": "Read orders", "orders:write": "Create orders"},
    )
    read = Security(okta, scopes=["orders:read"])
    write = Security(okta, scopes=["orders:write"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await verifier.prewarm_async()
        except IssuerUnavailableError as exc:  # not fatal: keys are fetched on first use
            logger.warning("cannot prewarm the Okta key cache: %s", exc.description)
        yield

    app = FastAPI(title="Orders API", lifespan=lifespan)
    okta.install(app)

    @app.get("/health")
    @public  # open on purpose: `okta-guard routes examples.fastapi_app:app` passes
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/orders")
    async def list_orders(token: AccessToken = read) -> dict[str, Any]:
        return {"orders": ORDERS, "client": token.client_id}

    @app.post("/orders", status_code=201)
    async def create_order(order: NewOrder, token: AccessToken = write) -> dict[str, Any]:
        return {"id": len(ORDERS) + 1, "item": order.item}

    @app.websocket("/orders/live")
    async def live_orders(websocket: WebSocket, token: AccessToken = read) -> None:
        await websocket.accept()
        await websocket.send_json({"orders": ORDERS})
        await websocket.close()

    return app


def __getattr__(name: str) -> Any:
    # ``app`` is built on first access so that importing this module needs no settings.
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
