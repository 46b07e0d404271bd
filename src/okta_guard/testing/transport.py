"""The httpx shell of the mock issuer: one transport for ``httpx.Client`` and ``AsyncClient``.

Bodies that misbehave (``drip``, ``stall``, compressed bombs) are handed to httpx
as a stream, so the client reads (and decodes) them chunk by chunk exactly as it
would from a socket, and its read timeout applies to each chunk.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import anyio.to_thread
import httpx

from .records import MAX_REQUEST_BODY, MockRequest, MockResponse, too_large

__all__ = ["MockIssuerTransport"]

Handler = Callable[[MockRequest], MockResponse]

_STALL_SLICE = 0.05


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _serve(handler: Handler, request: httpx.Request, body: bytes) -> MockResponse:
    if len(body) > MAX_REQUEST_BODY:
        return too_large()
    return handler(_to_mock(request, body))


def _to_mock(request: httpx.Request, body: bytes) -> MockRequest:
    target = request.url.raw_path.decode("ascii")
    return MockRequest.build(request.method, target, dict(request.headers), body)


class _SlowBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent one byte at a time (``drip``), or never (``stall``), or whole."""

    def __init__(
        self,
        response: MockResponse,
        request: httpx.Request,
        closed: Callable[[], bool],
    ) -> None:
        self._body = response.body
        self._drip = response.drip
        self._stall = response.stall
        self._request = request
        self._timeout = _read_timeout(request)
        self._closed = closed

    def _timed_out(self) -> httpx.ReadTimeout:
        return httpx.ReadTimeout("The mock issuer sent the body too slowly.", request=self._request)

    def _gone(self) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError("The mock issuer was closed.", request=self._request)

    def _waits(self) -> Iterator[float]:
        """The pauses before each chunk; raises when the client's read timeout strikes."""
        if self._stall:
            waited = 0.0
            while self._timeout is None or waited < self._timeout:
                if self._closed():
                    raise self._gone()
                step = _STALL_SLICE if self._timeout is None else min(_STALL_SLICE, self._timeout)
                yield step
                waited += step
            raise self._timed_out()
        if self._drip and self._timeout is not None and self._drip >= self._timeout:
            yield self._timeout
            raise self._timed_out()

    def _chunks(self) -> Iterator[bytes]:
        if self._drip:
            for index in range(len(self._body)):
                yield self._body[index : index + 1]
        elif self._body:
            yield self._body

    def __iter__(self) -> Iterator[bytes]:
        for pause in self._waits():
            time.sleep(pause)
        for chunk in self._chunks():
            if self._drip:
                time.sleep(self._drip)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for pause in self._waits():
            await anyio.sleep(pause)
        for chunk in self._chunks():
            if self._drip:
                await anyio.sleep(self._drip)
            yield chunk


class MockIssuerTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serve requests from the mock issuer in-process, whatever the URL's host.

    A response delay longer than the client's read timeout raises
    :class:`httpx.ReadTimeout` after the timeout, as a real slow server would;
    so does a ``drip`` slower than it, or a ``stall``.
    """

    def __init__(self, handler: Handler, closed: Callable[[], bool] | None = None) -> None:
        self._handler = handler
        self._closed = closed or (lambda: False)

    def _to_httpx(self, request: httpx.Request, response: MockResponse) -> httpx.Response:
        if response.disconnect:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if not (response.drip or response.stall or "content-encoding" in response.headers):
            return httpx.Response(
                response.status, headers=response.headers, content=response.body, request=request
            )
        headers = dict(response.headers)
        headers["content-length"] = str(len(response.body))
        stream = _SlowBody(response, request, self._closed)
        return httpx.Response(response.status, headers=headers, stream=stream, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request for a synchronous client."""
        response = _serve(self._handler, request, request.read())
        if response.delay > 0:
            limit = _read_timeout(request)
            if limit is not None and response.delay > limit:
                time.sleep(limit)
                raise httpx.ReadTimeout("The mock issuer answered too slowly.", request=request)
            time.sleep(response.delay)
        return self._to_httpx(request, response)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request for an asynchronous client.

        A ``POST`` (the token endpoint may call a token inline hook, for up to its
        timeout) is served in a worker thread, as in the loopback server, so the caller's
        event loop keeps running; the cheap ``GET`` answers (keys, discovery) stay inline.
        """
        body = await request.aread()
        if request.method == "POST":
            response = await anyio.to_thread.run_sync(_serve, self._handler, request, body)
        else:
            response = _serve(self._handler, request, body)
        if response.delay > 0:
            limit = _read_timeout(request)
            if limit is not None and response.delay > limit:
                await anyio.sleep(limit)
                raise httpx.ReadTimeout("The mock issuer answered too slowly.", request=request)
            await anyio.sleep(response.delay)
        return self._to_httpx(request, response)
