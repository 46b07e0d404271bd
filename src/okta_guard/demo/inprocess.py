"""Serve an ASGI app in-process, for the demo when uvicorn is not installed.

:class:`InProcessASGI` runs the app on an event loop in a background thread:
it drives the ASGI lifespan (so startup work such as prewarming the key cache
happens as under a server) and is a synchronous ``httpx`` transport that hands
each request to :class:`httpx.ASGITransport` on that loop.  No socket is opened.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

__all__ = ["InProcessASGI"]

_TIMEOUT = 30.0


class InProcessASGI:
    """Runs ``app`` on a private event loop thread; :attr:`transport` calls it.

    Use as a context manager: entering runs the lifespan startup (raising
    ``RuntimeError`` if the app reports a failure), leaving runs the shutdown
    and stops the loop.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="okta-guard-demo-asgi", daemon=True
        )
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: asyncio.Queue[Message] | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self.transport: httpx.BaseTransport = _LoopTransport(self)
        """A sync httpx transport sending requests to the app (while running)."""

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT)

    def __enter__(self) -> InProcessASGI:
        self._thread.start()
        try:
            self._run(self._startup())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._run(self._shutdown())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_TIMEOUT)
        self._loop.close()

    async def _startup(self) -> None:
        self._to_app, self._from_app = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.ensure_future(
            self.app(scope, self._to_app.get, self._from_app.put)
        )
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {answer.get('message', '')}")

    async def _shutdown(self) -> None:
        if self._to_app is None or self._from_app is None or self._lifespan is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        await self._lifespan

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app on its loop; return the fully read response."""
        body = request.read()
        result: httpx.Response = self._run(
            self._handle(request.method, request.url, request.headers, body)
        )
        return result

    async def _handle(
        self, method: str, url: httpx.URL, headers: httpx.Headers, body: bytes
    ) -> httpx.Response:
        inner = httpx.Request(method, url, headers=headers, content=body)
        response = await self._asgi.handle_async_request(inner)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)


class _LoopTransport(httpx.BaseTransport):
    def __init__(self, runner: InProcessASGI) -> None:
        self._runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._runner.send(request)
