"""The loopback HTTP(S) shell of the mock issuer: a threaded server on a small HTTP/1.1 reader.

It binds before :meth:`LoopbackServer.start` returns, so the port is known and
connections are accepted at once — no waiting or sleeping is needed.  Each
connection gets a thread; requests are read by :mod:`.http11` (strict, and much
cheaper than ``http.server``'s ``email``-based header parsing).

Each answer leaves in one write (status line, headers and body together) on a
socket with ``TCP_NODELAY``, so a keep-alive client never waits on Nagle's
algorithm meeting its own delayed ACK (which used to cost ~40 ms a request).
Malformed requests get a 400/401/405/413/414/431/505 answer like Okta's front
door, never a dropped connection, and request bodies are bounded by
:data:`MAX_REQUEST_BODY`.
"""

from __future__ import annotations

import contextlib
import email.utils
import select
import socket
import socketserver
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .http11 import BadRequest, RequestHead, read_body, read_head, response_head
from .records import MAX_REQUEST_BODY, MockRequest, MockResponse, okta_api_error

__all__ = ["MAX_REQUEST_BODY", "LoopbackServer"]

Handler = Callable[[MockRequest], MockResponse]

_SERVER = "okta-guard-mock"
_IDLE_TIMEOUT = 60.0  # seconds a connection may sit idle or half-sent
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: Handler, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.mock_handler = handler
        self.ssl_context = ssl_context
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Connection)

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


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: requests in, answers out, until either side closes."""

    server: _Server
    request: socket.socket

    def handle(self) -> None:
        self.request.settimeout(_IDLE_TIMEOUT)
        with self.request.makefile("rb") as rfile:
            keep_alive = True
            while keep_alive and not self.server.stopping.is_set():
                try:
                    head = read_head(rfile)
                    if head is None:
                        return
                    if head.expects_continue:
                        self.request.sendall(_CONTINUE)
                    body = read_body(rfile, head)
                except BadRequest as bad:
                    error = okta_api_error(bad.status, bad.code, bad.summary)
                    self._send(error, head=False, close=True)
                    return
                keep_alive = self._serve(head, body)

    def _serve(self, head: RequestHead, body: bytes) -> bool:
        """Answer one request; whether the connection stays open."""
        try:
            response = self.server.mock_handler(
                MockRequest.build(head.method, head.target, head.headers, body)
            )
        except Exception:  # a bug in the mock: answer like Okta's 500 and stay up
            traceback.print_exc(file=sys.stderr)
            response = okta_api_error(500, "E0000009", "Internal Server Error")
        if response.delay > 0 and self.server.stopping.wait(response.delay):
            return False
        if response.disconnect:
            return False
        return self._send(response, head=head.method == "HEAD", close=not head.keep_alive)

    def _send(self, response: MockResponse, *, head: bool, close: bool) -> bool:
        """Send ``response``; whether the connection stays open after it."""
        fields = [("server", _SERVER), ("date", email.utils.formatdate(usegmt=True))]
        fields.extend(response.headers.items())
        fields.append(("content-length", str(len(response.body))))
        if close:
            fields.append(("connection", "close"))
        head_bytes = response_head(response.status, fields)
        if response.stall:
            self.request.sendall(head_bytes)
            self._stall()
            return False
        if head or not response.body:
            self.request.sendall(head_bytes)
        elif response.drip > 0:
            self.request.sendall(head_bytes)
            return self._drip(response.body, response.drip) and not close
        else:
            self.request.sendall(head_bytes + response.body)  # one write: no Nagle wait
        return not close

    def _drip(self, body: bytes, interval: float) -> bool:
        """Send ``body`` one byte every ``interval`` seconds; whether it was all sent."""
        for index in range(len(body)):
            if self.server.stopping.wait(interval) or self._peer_closed(0):
                return False
            try:
                self.request.sendall(body[index : index + 1])
            except OSError:
                return False
        return True

    def _stall(self) -> None:
        """Send nothing more until the client hangs up or the server stops."""
        while not self.server.stopping.is_set():
            if self._peer_closed(0.05):
                return

    def _peer_closed(self, wait: float) -> bool:
        """Whether the client sent something (a hang-up, as it awaits our answer)."""
        try:
            readable, _, _ = select.select([self.request], [], [], wait)
        except (OSError, ValueError):
            return True
        return bool(readable)


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
        self._server = _Server((host, port), handler, ssl_context)
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
