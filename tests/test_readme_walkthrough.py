"""The README's "Try the example API against the mock" steps, run as written on free ports.

Three real processes on loopback: ``okta-guard mock-issuer``, uvicorn serving
``examples.starlette_app:app``, and ``okta-guard token --raw``; then the API is
called with and without the token.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _start(args: list[str], env: dict[str, str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    """Start a process and wait (by reading its output) for the first line matching pattern."""
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return proc, match.group(1)
    proc.wait(timeout=10)
    raise AssertionError(f"{args[0]} exited early: {''.join(seen)}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - defensive
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_readme_walkthrough(processes: list[subprocess.Popen[str]]) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock, issuer = _start(
        [
            str(BIN / "okta-guard"),
            "mock-issuer",
            "--port",
            "0",
            "--client",
            "svc:s3cret:orders:read",
        ],
        env,
        r"^(http://127\.0\.0\.1:\d+/oauth2/default)\s*$",
    )
    processes.append(mock)
    api_env = {**env, "OKTA_ISSUER": issuer, "OKTA_AUDIENCE": "api://default"}
    api, base = _start(
        [str(BIN / "uvicorn"), "examples.starlette_app:app", "--port", "0"],
        api_env,
        r"Uvicorn running on (http://127\.0\.0\.1:\d+)",
    )
    processes.append(api)

    token = subprocess.run(
        [
            str(BIN / "okta-guard"),
            "token",
            "--issuer",
            issuer,
            "--client-id",
            "svc",
            "--secret",
            "env:SECRET",
            "--scope",
            "orders:read",
            "--raw",
        ],
        env={**env, "SECRET": "s3cret"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert token.count(".") == 2

    with httpx.Client(base_url=base, timeout=10) as http:
        ok = http.get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json()["client"] == "svc"
        anonymous = http.get("/orders")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer realm=")
        assert http.get("/health").status_code == 200
