"""Warnings of okta-guard reach the output of a server started without any logging setup.

The package attaches no handler to its logger, so Python's last-resort handler prints
WARNING and above to stderr under a plain ``uvicorn app:app`` (issue: the prewarm
warning used to vanish into a ``NullHandler``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from okta_guard import OktaGuardMiddleware, TokenVerifier

    verifier = TokenVerifier("http://127.0.0.1:{port}/oauth2/default", "api://default",
                             timeout=2.0)
    app = OktaGuardMiddleware(Starlette(), verifier=verifier)
    """
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_app(tmp_path: Path) -> None:
    (tmp_path / "unconfigured_app.py").write_text(APP.format(port=_closed_port()))


def test_prewarm_warning_reaches_stderr_without_logging_setup(tmp_path: Path) -> None:
    _write_app(tmp_path)
    script = textwrap.dedent(
        """
        import asyncio
        from unconfigured_app import app

        async def main():
            sent = []
            messages = [{"type": "lifespan.startup"}]
            async def receive():
                if messages:
                    return messages.pop()
                await asyncio.sleep(3600)
            async def send(message):
                sent.append(message["type"])
                if message["type"].startswith("lifespan.startup"):
                    raise SystemExit(0)
            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "could not prewarm the key cache" in done.stderr, done.stderr
    assert "http://127.0.0.1:" in done.stderr


def test_plain_uvicorn_prints_the_prewarm_warning(tmp_path: Path) -> None:
    _write_app(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "unconfigured_app:app",
            "--port",
            "0",
            "--app-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "Application startup complete" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    output = "".join(lines)
    assert "could not prewarm the key cache" in output, output
