"""The demo's protected orders API, served on loopback for ``okta-guard demo``.

:func:`create_demo_app` builds a small Starlette app protected by
:class:`~okta_guard.OktaGuardMiddleware` (``GET /health`` public, ``GET /orders``
needs the read scope, ``POST /orders`` the write scope).  It lives in the package,
unlike ``examples/``, so that the demo works from an installed wheel.

:class:`DemoApiServer` serves it with uvicorn on ``127.0.0.1`` (a free port, in a
background thread) when uvicorn is installed (``okta-guard[testing]``), and
otherwise in-process (:class:`~okta_guard.demo.inprocess.InProcessASGI`, through
``httpx.ASGITransport``); either way callers get an ``httpx.Client`` aimed at
the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.scopes import require_scopes
from okta_guard.verify.verifier import TokenVerifier

__all__ = ["DemoApiServer", "create_demo_app", "uvicorn_available"]

_START_TIMEOUT = 15.0


def create_demo_app(
    verifier: TokenVerifier,
    *,
    read_scope: str = "orders:read",
    write_scope: str = "orders:write",
    async_clients: Sequence[httpx.AsyncClient] = (),
) -> Starlette:
    """The demo orders API, protected by ``verifier``.

    The middleware prewarms the key cache at startup.  At shutdown the verifier
    and ``async_clients`` (clients injected into the verifier, used on the
    server's event loop) are closed.
    """
    orders: list[dict[str, Any]] = [{"id": 1, "item": "coffee"}]

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @require_scopes(read_scope)
    async def list_orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": orders, "client": request.user.client_id})

    @require_scopes(write_scope)
    async def create_order(request: Request) -> JSONResponse:
        order = {"id": len(orders) + 1, "item": "tea", "client": request.user.client_id}
        orders.append(order)
        return JSONResponse(order, status_code=201)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await verifier.aclose()
            for client in async_clients:
                await client.aclose()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/orders", list_orders, methods=["GET"]),
            Route("/orders", create_order, methods=["POST"]),
        ],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier, exclude_paths=["/health"])],
        lifespan=lifespan,
    )


def uvicorn_available() -> bool:
    """Tell whether uvicorn (the ``testing`` extra) can be imported."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


class _StartupSignal:
    """ASGI wrapper setting ``ready`` once the app reports its startup complete (or failed)."""

    def __init__(self, app: ASGIApp, ready: threading.Event) -> None:
        self.app, self.ready = app, ready
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_signal(message: Message) -> None:
            await send(message)
            if message["type"].startswith("lifespan.startup."):
                self.started = message["type"] == "lifespan.startup.complete"
                self.ready.set()

        await self.app(scope, receive, send_and_signal)


class DemoApiServer:
    """Serve an ASGI app (the demo API, or any app with a lifespan) while the ``with``
    block runs; ``client`` calls it.

    ``use_uvicorn=None`` picks uvicorn when installed: a real server on
    ``127.0.0.1`` (free port) in a background thread, entered once the app's
    startup is complete.  Attributes once entered: ``base_url``, ``served_by``
    (``"uvicorn"`` or ``"in-process"``) and ``client`` (an ``httpx.Client`` with
    that base URL).
    """

    def __init__(self, app: ASGIApp, use_uvicorn: bool | None = None) -> None:
        self._ready = threading.Event()
        self.app = _StartupSignal(app, self._ready)
        self._use_uvicorn = uvicorn_available() if use_uvicorn is None else use_uvicorn
        self.base_url = ""
        self.served_by = ""
        self._client: httpx.Client | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stack = contextlib.ExitStack()

    @property
    def client(self) -> httpx.Client:
        """The HTTP client aimed at the API (only inside the ``with`` block)."""
        if self._client is None:
            raise RuntimeError("DemoApiServer is not running")
        return self._client

    def __enter__(self) -> DemoApiServer:
        try:
            if self._use_uvicorn:
                self._start_uvicorn()
            else:
                self._start_in_process()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start_in_process(self) -> None:
        from okta_guard.demo.inprocess import InProcessASGI

        transport = self._stack.enter_context(InProcessASGI(self.app)).transport
        self.base_url = "http://orders.localhost"
        self.served_by = "in-process"
        client = httpx.Client(base_url=self.base_url, transport=transport, timeout=10.0)
        self._client = self._stack.enter_context(client)

    def _start_uvicorn(self) -> None:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stack.callback(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # requests queue here until uvicorn accepts them
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, log_config=None, lifespan="on"
        )
        server = uvicorn.Server(config)
        done = threading.Event()

        def serve() -> None:
            try:
                # a fresh loop; uvicorn installs no signal handlers outside the main thread
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                done.set()
                self._ready.set()  # wake the waiting caller if startup failed

        thread = threading.Thread(target=serve, name="okta-guard-demo-api", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        self._stack.callback(self._stop_uvicorn)
        started = self._ready.wait(_START_TIMEOUT) and self.app.started
        if not started or done.is_set():
            raise RuntimeError("the API server did not start (see the log above)")
        self.base_url = f"http://127.0.0.1:{port}"
        self.served_by = "uvicorn"
        client = httpx.Client(base_url=self.base_url, trust_env=False, timeout=10.0)
        self._client = self._stack.enter_context(client)

    def _stop_uvicorn(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_START_TIMEOUT)
