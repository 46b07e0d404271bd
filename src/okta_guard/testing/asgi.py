"""The ASGI shell of the mock issuer: mount it in any ASGI server or test client."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.to_thread

from .records import MAX_REQUEST_BODY, MockRequest, MockResponse, okta_api_error, too_large

__all__ = ["MockIssuerApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class MockIssuerApp:
    """A pure ASGI application serving the mock issuer's handler.

    A fault with ``disconnect=True`` ends the request without a response (the
    ASGI server then drops or fails the connection); ``drip`` sends the body one
    byte at a time, ``stall`` sends only the headers and waits for
    ``http.disconnect``.
    """

    def __init__(self, handler: Callable[[MockRequest], MockResponse]) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle ``http`` and ``lifespan`` scopes."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_REQUEST_BODY:
                await _send(send, too_large())
                return
            if not message.get("more_body", False):
                break
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request = MockRequest.build(scope["method"], target, headers, bytes(body))
        # In a worker thread, as the threaded server does: a token inline hook may take
        # its whole timeout (or call this very app back), and the event loop must keep
        # serving the other requests meanwhile.
        try:
            response = await anyio.to_thread.run_sync(self._handler, request)
        except Exception:  # a bug in the mock: answer like Okta's 500 and stay up
            traceback.print_exc(file=sys.stderr)
            response = okta_api_error(500, "E0000009", "Internal Server Error")
        if response.delay > 0:
            await anyio.sleep(response.delay)
        if response.disconnect:
            return
        await _start(send, response)
        if response.stall:  # headers only, then nothing until the client hangs up
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        if response.drip:
            for index in range(len(response.body)):
                await anyio.sleep(response.drip)
                chunk = response.body[index : index + 1]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": response.body})


async def _start(send: Send, response: MockResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})


async def _send(send: Send, response: MockResponse) -> None:
    await _start(send, response)
    await send({"type": "http.response.body", "body": response.body})
