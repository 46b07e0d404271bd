"""The httpx shell of the mock issuer: one transport for ``httpx.Client`` and ``AsyncClient``."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx

from .records import MockRequest, MockResponse

__all__ = ["MockIssuerTransport"]

Handler = Callable[[MockRequest], MockResponse]


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _to_mock(request: httpx.Request, body: bytes) -> MockRequest:
    target = request.url.raw_path.decode("ascii")
    return MockRequest.build(request.method, target, dict(request.headers), body)


def _to_httpx(request: httpx.Request, response: MockResponse) -> httpx.Response:
    if response.disconnect:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    return httpx.Response(
        response.status, headers=response.headers, content=response.body, request=request
    )


class MockIssuerTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serve requests from the mock issuer in-process, whatever the URL's host.

    A response delay longer than the client's read timeout raises
    :class:`httpx.ReadTimeout` after the timeout, as a real slow server would.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request for a synchronous client."""
        response = self._handler(_to_mock(request, request.read()))
        if response.delay > 0:
            limit = _read_timeout(request)
            if limit is not None and response.delay > limit:
                time.sleep(limit)
                raise httpx.ReadTimeout("The mock issuer answered too slowly.", request=request)
            time.sleep(response.delay)
        return _to_httpx(request, response)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request for an asynchronous client."""
        response = self._handler(_to_mock(request, await request.aread()))
        if response.delay > 0:
            limit = _read_timeout(request)
            if limit is not None and response.delay > limit:
                await anyio.sleep(limit)
                raise httpx.ReadTimeout("The mock issuer answered too slowly.", request=request)
            await anyio.sleep(response.delay)
        return _to_httpx(request, response)
