"""A loopback issuer that misbehaves on purpose: drips, stalls, bombs, odd and empty key sets.

:class:`HostileIssuer` is a real HTTP/1.1 server on 127.0.0.1 (threads, raw sockets) that
serves discovery metadata, a key set (``kid-a`` of :func:`tests.support.verifier_helpers.jwk`)
and a client-credentials token endpoint, and answers with a fault when told to:

* ``drip=SECONDS``: 200 with a full ``Content-Length``, then one byte every SECONDS;
* ``stall=True``: 200 headers with a ``Content-Length``, then nothing;
* ``bomb=N, encoding="gzip"|"deflate"``: a small compressed body inflating to N bytes;
* ``keys=[...]``: this key list instead of the good one (odd keys, empty sets);
* ``status=N``: an empty answer with that status.

A fault applies to the next ``times`` requests of an endpoint (``"discovery"``, ``"keys"``,
``"token"``), or to all of them with ``times=None``.  It serves the product's tests only,
beside the mock issuer, so that the time and memory bounds are checked against a real
socket.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tests.support.verifier_helpers import AUDIENCE, NOW, claims, jwk, token

__all__ = ["Fault", "HostileIssuer"]


@dataclass
class Fault:
    """What to do instead of the good answer (see the module docstring)."""

    drip: float | None = None
    stall: bool = False
    bomb: int | None = None
    encoding: str = "gzip"
    keys: list[Any] | None = None
    status: int | None = None
    times: int | None = 1


@lru_cache(maxsize=8)
def bomb_body(size: int, encoding: str) -> bytes:
    """``size`` zero bytes of JSON-ish padding, compressed (a few hundred KB for 200 MB)."""
    payload = b'{"keys": ["' + b"0" * size + b'"]}'
    if encoding == "gzip":
        return gzip.compress(payload, compresslevel=9)
    return zlib.compress(payload, 9)


class HostileIssuer:
    """The loopback issuer; use as a context manager.  ``issuer`` is its issuer URL."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}/oauth2/default"
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- control ---------------------------------------------------------------------

    def __enter__(self) -> HostileIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(5)

    def fail(self, endpoint: str, **kwargs: Any) -> None:
        """Answer the next ``times`` requests of ``endpoint`` with ``Fault(**kwargs)``."""
        fault = Fault(**kwargs)
        if fault.bomb is not None:
            bomb_body(fault.bomb, fault.encoding)  # built now, not while a test measures
        with self._lock:
            self._faults.setdefault(endpoint, []).append(fault)

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def count(self, endpoint: str) -> int:
        """How many requests ``endpoint`` received."""
        with self._lock:
            return sum(1 for seen in self.requests if seen == endpoint)

    def token(self, **overrides: Any) -> str:
        """An access token for this issuer, signed with ``kid-a``, valid at ``NOW``."""
        return token(claims(iss=self.issuer, **overrides))

    @property
    def audience(self) -> str:
        """The audience of :meth:`token`."""
        return AUDIENCE

    @property
    def now(self) -> float:
        """The time at which :meth:`token` is valid (for a fake clock)."""
        return NOW

    # -- serving ---------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _take(self, endpoint: str) -> Fault | None:
        with self._lock:
            self.requests.append(endpoint)
            queue = self._faults.get(endpoint) or []
            if not queue:
                return None
            fault = queue[0]
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
            return fault

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                while not self._stop.is_set():
                    head = b""
                    while b"\r\n\r\n" not in head:
                        data = conn.recv(65536)
                        if not data:
                            return
                        head += data
                    header_blob, _, rest = head.partition(b"\r\n\r\n")
                    lines = header_blob.decode("latin-1").split("\r\n")
                    method, path, _ = lines[0].split(" ", 2)
                    length = 0
                    for line in lines[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    if not self._answer(conn, method, path):
                        return
            except OSError:
                return

    def _endpoint(self, path: str) -> str:
        if "/.well-known/" in path:
            return "discovery"
        if path.endswith("/v1/keys"):
            return "keys"
        if path.endswith("/v1/token"):
            return "token"
        return "other"

    def _good(self, endpoint: str, path: str) -> tuple[int, bytes]:
        if endpoint == "discovery" and path.startswith("/oauth2/default/"):
            meta = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/v1/keys"}
            meta["token_endpoint"] = f"{self.issuer}/v1/token"
            return 200, json.dumps(meta).encode()
        if endpoint == "keys":
            return 200, json.dumps({"keys": [jwk("a")]}).encode()
        if endpoint == "token":
            answer = {
                "access_token": "header.payload.signature",
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "orders:read",
            }
            return 200, json.dumps(answer).encode()
        return 404, b""

    def _answer(self, conn: socket.socket, method: str, path: str) -> bool:
        """Answer one request; return whether the connection may be kept open."""
        endpoint = self._endpoint(path)
        fault = self._take(endpoint)
        status, body = self._good(endpoint, path)
        headers = {"Content-Type": "application/json", "Cache-Control": "max-age=3600"}
        if fault is not None and fault.status is not None:
            status, body = fault.status, b""
        if fault is not None and fault.keys is not None:
            body = json.dumps({"keys": fault.keys}).encode()
        if fault is not None and fault.bomb is not None:
            body = bomb_body(fault.bomb, fault.encoding)
            headers["Content-Encoding"] = fault.encoding
        slow = fault is not None and (fault.drip is not None or fault.stall)
        if slow:
            body = body + b" " * 200_000  # a long body, declared in full, within the cap
        headers["Content-Length"] = str(len(body))
        reason = {200: "OK", 404: "Not Found"}.get(status, "Status")
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        conn.sendall(head.encode("latin-1") + b"\r\n")
        if fault is not None and fault.stall:
            self._stop.wait(60)
            return False
        if fault is not None and fault.drip is not None:
            for index in range(len(body)):
                if self._stop.wait(fault.drip):
                    return False
                conn.sendall(body[index : index + 1])
            return False
        conn.sendall(body)
        return True
