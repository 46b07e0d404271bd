"""The httpx shells of the sans-IO flows: one request, sync or async, bounded in time and size.

:func:`send_sync` and :func:`send_async` perform one :class:`~okta_guard._sansio.HttpRequest`
and never raise: every failure becomes an :class:`~okta_guard._sansio.HttpResponse` with
``error`` set.  Both enforce the same two bounds, which httpx alone does not give:

* **time** - httpx timeouts bound each read, not the request, so a server that drips
  one byte per second keeps a plain ``client.get`` busy for as long as it likes.  Every
  timeout of the request is clamped to the time left before the flow's
  :class:`~okta_guard._sansio.Deadline`, the body is read chunk by chunk with the deadline
  checked after each, and a sync read still blocked when the deadline passes is
  interrupted by shutting the socket down (the async shell is cancelled by its driver).
* **size** - the body is read raw and decoded here, ``gzip`` and ``deflate`` included,
  with the *decoded* size capped while streaming (``zlib`` ``max_length``), so a small
  compressed bomb cannot expand in memory; ``Content-Length`` above the cap is refused
  before reading.  Other content encodings are refused.

Redirects are never followed.  Every outbound call of the product goes through these two
functions - key set, discovery, token, and any new one such as introspection, which
passes ``HttpRequest(url, method="POST", headers=..., form=..., max_bytes=...)`` and gets
the same bounds for free.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import zlib
from typing import Any

import httpx

from okta_guard import telemetry
from okta_guard._sansio import Deadline, HttpRequest, HttpResponse, call_kind

__all__ = [
    "DEFAULT_MAX_BYTES",
    "BodyTooLarge",
    "Decoder",
    "HttpClients",
    "send_async",
    "send_sync",
]

#: Largest decoded response body accepted when the request names no cap, in bytes.
DEFAULT_MAX_BYTES = 1024 * 1024
_ACCEPT = {"Accept": "application/json", "Accept-Encoding": "identity"}


class BodyTooLarge(Exception):
    """The decoded body passed its cap."""


class BadEncoding(Exception):
    """The body's ``Content-Encoding`` is unsupported or the compressed data is corrupt."""


class Decoder:
    """Decodes a response body chunk by chunk and refuses it once it passes ``limit`` bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._parts: list[bytes] = []
        encoding = content_encoding.strip().lower()
        self._zlib: Any = None
        self._deflate = False
        self._pending = b""
        if encoding in ("", "identity"):
            pass
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._deflate = True  # zlib-wrapped or raw: decided on the first bytes
        else:
            raise BadEncoding(f"unsupported Content-Encoding {encoding[:40]!r}")

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge
        if data:
            self._parts.append(data)

    def feed(self, chunk: bytes) -> None:
        """Decode one raw chunk; raise :class:`BodyTooLarge` or :class:`BadEncoding`."""
        if self._deflate and self._zlib is None:
            # RFC 9110 says zlib-wrapped; some servers send raw deflate (httpx accepts both).
            self._pending += chunk
            if len(self._pending) < 2:
                return
            head = self._pending
            wrapped = (head[0] & 0x0F) == 8 and (head[0] << 8 | head[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            chunk, self._pending = head, b""
        if self._zlib is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data:
                # Never inflate more than the room left (+1 to notice passing it).
                out = self._zlib.decompress(data, self.limit - self.size + 1)
                self._add(out)
                data = self._zlib.unconsumed_tail
        except zlib.error:
            raise BadEncoding("corrupt compressed body") from None

    def body(self) -> bytes:
        """The decoded body so far, after checking the compressed stream is complete."""
        if self._deflate and self._zlib is None and self._pending:
            raise BadEncoding("corrupt compressed body")
        if self._zlib is not None:
            try:
                self._add(self._zlib.flush())
            except zlib.error:
                raise BadEncoding("corrupt compressed body") from None
            if not self._zlib.eof:  # the stream ended early: what was decoded is a fragment
                raise BadEncoding("truncated compressed body")
        return b"".join(self._parts)


def _timeout(base: httpx.Timeout, remaining: float) -> httpx.Timeout:
    def clamp(value: float | None) -> float:
        return remaining if value is None else min(value, remaining)

    return httpx.Timeout(
        connect=clamp(base.connect),
        read=clamp(base.read),
        write=clamp(base.write),
        pool=clamp(base.pool),
    )


def _build(
    client: httpx.Client | httpx.AsyncClient,
    request: HttpRequest,
    remaining: float,
    trace: Any = None,
) -> httpx.Request:
    headers = dict(_ACCEPT)
    headers.update(request.headers)
    return client.build_request(
        request.method,
        request.url,
        headers=headers,
        data=dict(request.form) if request.form is not None else None,
        timeout=_timeout(client.timeout, remaining),
        extensions={"trace": trace} if trace is not None else None,
    )


def _declared_too_large(response: httpx.Response, limit: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


def _failure(exc: BaseException, deadline: Deadline) -> HttpResponse:
    if deadline.expired():
        return HttpResponse(0, error="deadline", detail="the total deadline passed")
    if isinstance(exc, BodyTooLarge):
        return HttpResponse(0, error="too_large", detail="the response body is too large")
    if isinstance(exc, BadEncoding):
        return HttpResponse(0, error="encoding", detail=str(exc))
    detail = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return HttpResponse(0, error="timeout", detail=detail)
    return HttpResponse(0, error="network", detail=detail)


class _Watchdog:
    """Shuts a sync request's socket down at the deadline, interrupting a blocked read.

    It learns the socket from httpcore's ``trace`` hook as soon as a new connection is
    made (so a server that drips its *headers* is cut off too) and from the response's
    ``network_stream`` (a reused keep-alive connection).  Other transports have no
    socket to watch; the deadline is then checked between chunks only.
    """

    _CONNECTED = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})

    def __init__(self, deadline: Deadline) -> None:
        self._lock = threading.Lock()
        self._over = False
        self._fired = False
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: watch the socket of a connection as soon as it exists."""
        if name in self._CONNECTED:
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        """Watch the socket under an httpcore network stream (if it has one)."""
        sock = None
        if stream is not None:
            with contextlib.suppress(Exception):
                sock = stream.get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if self._over:
                return
            self._sock = sock
            fired = self._fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._over:
                return
            self._fired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def stop(self) -> None:
        with self._lock:
            self._over = True
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _in_memory(response: httpx.Response, limit: int) -> bytes:
    # An in-process transport (httpx.MockTransport, the mock issuer's) built the response
    # from bytes already in memory: nothing streams, only the cap applies.
    if len(response.content) > limit:
        raise BodyTooLarge
    return response.content


def _read_sync(response: httpx.Response, limit: int, deadline: Deadline) -> bytes:
    if _declared_too_large(response, limit):
        raise BodyTooLarge
    if response.is_stream_consumed:
        return _in_memory(response, limit)
    decoder = Decoder(response.headers.get("content-encoding", ""), limit)
    for chunk in response.iter_raw():
        decoder.feed(chunk)
        if deadline.expired():
            raise TimeoutError
    return decoder.body()


def send_sync(client: httpx.Client, request: HttpRequest, deadline: Deadline) -> HttpResponse:
    """Perform ``request`` with ``client`` within ``deadline``; every failure is an ``error``.

    With telemetry on, the request is one CLIENT span (:mod:`okta_guard.telemetry`).
    """
    with telemetry.outbound(call_kind(request), request.method, request.url) as span:
        response = _send_sync(client, request, deadline)
        span.done(response.status, response.error)
    return response


def _send_sync(client: httpx.Client, request: HttpRequest, deadline: Deadline) -> HttpResponse:
    limit = request.max_bytes if request.max_bytes is not None else DEFAULT_MAX_BYTES
    watchdog = _Watchdog(deadline)
    try:
        built = _build(client, request, deadline.remaining(), watchdog.trace)
        response = client.send(built, stream=True, auth=None, follow_redirects=False)
        watchdog.watch(response.extensions.get("network_stream"))
        try:
            body = _read_sync(response, limit, deadline)
        except BodyTooLarge:
            if response.status_code == 200:
                raise
            body = b""  # an error page too large to keep: its status says enough
        finally:
            watchdog.stop()
            response.close()
        return HttpResponse(response.status_code, response.headers, body)
    except Exception as exc:  # any transport failure is "unreachable", never a crash
        return _failure(exc, deadline)
    finally:
        watchdog.stop()


async def _read_async(response: httpx.Response, limit: int, deadline: Deadline) -> bytes:
    if _declared_too_large(response, limit):
        raise BodyTooLarge
    if response.is_stream_consumed:
        return _in_memory(response, limit)
    decoder = Decoder(response.headers.get("content-encoding", ""), limit)
    async for chunk in response.aiter_raw():
        decoder.feed(chunk)
        if deadline.expired():
            raise TimeoutError
    return decoder.body()


async def send_async(
    client: httpx.AsyncClient, request: HttpRequest, deadline: Deadline
) -> HttpResponse:
    """Perform ``request`` with ``client`` without blocking the loop; never raises.

    The driver (:func:`~okta_guard._sansio.drive_async`) cancels it at the deadline.
    """
    with telemetry.outbound(call_kind(request), request.method, request.url) as span:
        response = await _send_async(client, request, deadline)
        span.done(response.status, response.error)
    return response


async def _send_async(
    client: httpx.AsyncClient, request: HttpRequest, deadline: Deadline
) -> HttpResponse:
    limit = request.max_bytes if request.max_bytes is not None else DEFAULT_MAX_BYTES
    try:
        built = _build(client, request, deadline.remaining())
        response = await client.send(built, stream=True, auth=None, follow_redirects=False)
        try:
            body = await _read_async(response, limit, deadline)
        except BodyTooLarge:
            if response.status_code == 200:
                raise
            body = b""
        finally:
            await response.aclose()
        return HttpResponse(response.status_code, response.headers, body)
    except Exception as exc:  # any transport failure is "unreachable", never a crash
        return _failure(exc, deadline)


class HttpClients:
    """The httpx clients of one outbound caller: the injected ones, else its own.

    Its own clients are made on first use: one sync client, and one async client per
    event loop (an ``AsyncClient`` is bound to the loop it first ran on).  Redirects
    are never followed.  :meth:`close` and :meth:`aclose` close only its own clients;
    injected ones belong to the caller.
    """

    def __init__(
        self,
        sync: httpx.Client | None,
        async_: httpx.AsyncClient | None,
        *,
        timeout: float,
        async_keepalive: bool = True,
    ) -> None:
        self._sync = sync
        self._async = async_
        self._timeout = timeout
        self._async_keepalive = async_keepalive
        self._owned_sync: httpx.Client | None = None
        self._owned_async: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None
        self._lock = threading.Lock()

    def sync(self) -> httpx.Client:
        """The sync client: the injected one, else this caller's own."""
        if self._sync is not None:
            return self._sync
        with self._lock:
            if self._owned_sync is None:
                self._owned_sync = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._owned_sync

    def async_(self) -> httpx.AsyncClient:
        """The async client for the running loop: the injected one, else one of its own."""
        if self._async is not None:
            return self._async
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._owned_async is None or self._owned_async[0] is not loop:
                # httpx's default pool, or the same without keep-alive.
                keepalive = 20 if self._async_keepalive else 0
                client = httpx.AsyncClient(
                    timeout=self._timeout,
                    follow_redirects=False,
                    limits=httpx.Limits(max_connections=100, max_keepalive_connections=keepalive),
                )
                self._owned_async = (loop, client)
            return self._owned_async[1]

    def close(self) -> None:
        """Close the sync client made here (not an injected one)."""
        with self._lock:
            owned, self._owned_sync = self._owned_sync, None
        if owned is not None:
            owned.close()

    async def aclose(self) -> None:
        """Close every client made here; the async one only on the loop it belongs to."""
        self.close()
        with self._lock:
            owned, self._owned_async = self._owned_async, None
        if owned is not None and owned[0] is asyncio.get_running_loop():
            await owned[1].aclose()
