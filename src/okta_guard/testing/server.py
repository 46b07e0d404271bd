"""The loopback HTTP(S) shell of the mock issuer: a stdlib threaded server.

It binds before :meth:`LoopbackServer.start` returns, so the port is known and
connections are accepted at once — no waiting or sleeping is needed.

Each answer leaves in one write (status line, headers and body together) on a
socket with ``TCP_NODELAY``, so a keep-alive client never waits on Nagle's
algorithm meeting its own delayed ACK (which used to cost ~40 ms a request).
Malformed requests get a 400/401/413 answer like Okta's front door, never a
dropped connection, and request bodies are bounded by :data:`MAX_REQUEST_BODY`.
"""

from __future__ import annotations

import contextlib
import email.utils
import select
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .records import MAX_REQUEST_BODY, MockRequest, MockResponse, okta_api_error

__all__ = ["MAX_REQUEST_BODY", "LoopbackServer"]

Handler = Callable[[MockRequest], MockResponse]

_MAX_CHUNK_LINE = 1024


class _BadRequest(Exception):
    """A request the server refuses before the handler sees it (status, summary)."""

    def __init__(self, status: int, summary: str) -> None:
        super().__init__(summary)
        self.status = status
        self.summary = summary


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: Handler, ssl_context: ssl.SSLContext | None
    ) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        self.mock_handler = handler
        self.ssl_context = ssl_context
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (timeouts, dropped connections); report the rest."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # answer garbage with a status line, not HTTP/0.9
    server_version = "okta-guard-mock"
    sys_version = ""
    timeout = 60
    server: _HTTPServer

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as bad:
            self.close_connection = True
            self._send(okta_api_error(bad.status, "E0000003", bad.summary), head=False)
            return
        try:
            response = self.server.mock_handler(
                MockRequest.build(self.command, self.path, dict(self.headers.items()), body)
            )
        except Exception:  # a bug in the mock: answer like Okta's 500 and stay up
            traceback.print_exc(file=sys.stderr)
            response = okta_api_error(500, "E0000009", "Internal Server Error")
        if response.delay > 0 and self.server.stopping.wait(response.delay):
            self.close_connection = True
            return
        if response.disconnect:
            self.close_connection = True
            return
        self._send(response, head=self.command == "HEAD")

    def _send(self, response: MockResponse, *, head: bool) -> None:
        lines = [f"HTTP/1.1 {response.status} {_phrase(response.status)}"]
        lines.append(f"server: {self.server_version}")
        lines.append(f"date: {email.utils.formatdate(usegmt=True)}")
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        lines.append(f"content-length: {len(response.body)}")
        if self.close_connection:
            lines.append("connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if response.stall:
            self.wfile.write(head_bytes)
            self._stall()
        elif head or not response.body:
            self.wfile.write(head_bytes)
        elif response.drip > 0:
            self.wfile.write(head_bytes)
            self._drip(response.body, response.drip)
        else:
            self.wfile.write(head_bytes + response.body)  # one write: no Nagle wait

    def _drip(self, body: bytes, interval: float) -> None:
        """Send ``body`` one byte every ``interval`` seconds (until the client hangs up)."""
        for index in range(len(body)):
            if self.server.stopping.wait(interval) or self._peer_closed(0):
                self.close_connection = True
                return
            try:
                self.wfile.write(body[index : index + 1])
            except OSError:
                self.close_connection = True
                return

    def _stall(self) -> None:
        """Send nothing more until the client hangs up or the server stops."""
        self.close_connection = True
        while not self.server.stopping.is_set():
            if self._peer_closed(0.05):
                return

    def _peer_closed(self, wait: float) -> bool:
        """Whether the client sent something (a hang-up, as it awaits our answer)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], wait)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _read_body(self) -> bytes:
        encoding = self.headers.get("transfer-encoding")
        length = self.headers.get_all("content-length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked" or length:
                raise _BadRequest(400, "The request framing is invalid.")
            return self._read_chunked()
        if not length:
            return b""
        value = length[0].strip()
        if len(set(length)) > 1 or not value.isdigit() or not value.isascii():
            raise _BadRequest(400, "The Content-Length header is invalid.")
        size = int(value)
        if size > MAX_REQUEST_BODY:
            raise _BadRequest(413, f"The request body is larger than {MAX_REQUEST_BODY} bytes.")
        body = self.rfile.read(size) if size else b""
        if len(body) != size:
            raise _BadRequest(400, "The request body is shorter than its Content-Length.")
        return body

    def _read_chunked(self) -> bytes:
        chunks = bytearray()
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            digits = line.split(b";")[0].strip()
            if len(line) > _MAX_CHUNK_LINE or not _is_hex(digits):
                raise _BadRequest(400, "The request has an invalid chunk size.")
            size = int(digits, 16)
            if size == 0:
                for _ in range(100):  # trailers, bounded
                    if self.rfile.readline(_MAX_CHUNK_LINE + 1) in (b"\r\n", b"\n", b""):
                        return bytes(chunks)
                raise _BadRequest(400, "The request has too many trailers.")
            if len(chunks) + size > MAX_REQUEST_BODY:
                raise _BadRequest(413, f"The request body is larger than {MAX_REQUEST_BODY} bytes.")
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(400, "The request has a truncated chunk.")
            chunks += data

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (bad request line, headers, method): Okta-style JSON."""
        self.close_connection = True
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method the stdlib has no do_X for
            # Okta answers an unknown method with 405 E0000022, not 501.
            error = okta_api_error(
                405, "E0000022", "The endpoint does not support the provided HTTP method"
            )
            self._send(error, head=False)
            return
        summary = message or _phrase(code)
        error = okta_api_error(code, "E0000009" if code >= 500 else "E0000003", summary)
        self._send(error, head=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: paths and timings are in ``MockIssuer.requests``."""


def _is_hex(digits: bytes) -> bool:
    return 0 < len(digits) <= 16 and all(c in b"0123456789abcdefABCDEF" for c in digits)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class LoopbackServer:
    """A background-thread HTTP(S) server for the mock issuer's handler."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _HTTPServer((host, port), handler, ssl_context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="okta-guard-mock-issuer",
            daemon=True,
        )
        self._thread.start()
        self.host = host
        self.port: int = self._server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{shown}:{self.port}"

    def stop(self) -> None:
        """Stop serving, close the listening socket and drop open connections."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        self._thread.join(timeout=5)
