"""``okta-guard request`` and ``okta-guard token`` for DPoP apps, against loopback servers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_guard.cli import main
from okta_guard.demo.api import DemoApiServer
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.testing import MockIssuer
from okta_guard.verify.verifier import TokenVerifier

SECRET = "cli-secret-0123456789-abcdefghijkl"


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=["orders:read"])
        server.register_client("dpop-svc", SECRET, scopes=["orders:read"], dpop=True)
        yield server


@pytest.fixture(scope="module")
def api(okta: MockIssuer) -> Iterator[str]:
    async def orders(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "scheme": request.user.scheme,
                "method": request.method,
                "body": json.loads(body) if body else None,
                "x": request.headers.get("x-demo"),
            },
            headers={"x-served-by": "orders"},
        )

    verifier = TokenVerifier(okta.issuer, okta.audience, dpop_nonce=True)
    inner = Starlette(routes=[Route("/orders", orders, methods=["GET", "POST", "DELETE"])])
    with DemoApiServer(OktaGuardMiddleware(inner, verifier=verifier), use_uvicorn=True) as server:
        yield server.base_url


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OKTA_ISSUER",
        "OKTA_DOMAIN",
        "OKTA_CLIENT_ID",
        "OKTA_CLIENT_SECRET",
        "OKTA_SCOPES",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(tmp_path / "cfg"))


def add(okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, name: str, client_id: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    argv = ["credentials", "add", name, "--issuer", okta.issuer, "--client-id", client_id]
    assert main([*argv, "--scope", "orders:read", "--secret-stdin"]) == 0


def test_token_for_a_dpop_app_says_it_needs_proofs(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add(okta, monkeypatch, "dpop", "dpop-svc")
    capsys.readouterr()
    assert main(["token", "--credential", "dpop", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["token_type"] == "DPoP"
    assert "token_type DPoP" in captured.err and "DPoP proof" in captured.err
    assert main(["token", "--credential", "dpop", "--dpop", "never"]) == 1
    assert "dpop=None" in capsys.readouterr().err


def test_request_with_a_dpop_credential(
    okta: MockIssuer, api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add(okta, monkeypatch, "dpop", "dpop-svc")
    capsys.readouterr()
    argv = ["request", "-c", "dpop", "POST", f"{api}/orders", "--json", '{"item": "tea"}']
    assert main([*argv, "-H", "X-Demo: yes"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "x-served-by: orders" in lines
    body = json.loads(captured.out.split("\n\n", 1)[1])
    assert body == {"scheme": "DPoP", "method": "POST", "body": {"item": "tea"}, "x": "yes"}
    assert "DPoP proof" in captured.err


def test_request_with_a_bearer_credential_and_fail(
    okta: MockIssuer, api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add(okta, monkeypatch, "plain", "svc")
    capsys.readouterr()
    assert main(["request", "-c", "plain", f"{api}/orders"]) == 0
    assert '"scheme": "Bearer"' in capsys.readouterr().out
    assert main(["request", "-c", "plain", "--fail", "PUT", f"{api}/orders"]) == 1
    assert "405" in capsys.readouterr().out.splitlines()[0]


def test_request_refuses_bad_input(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add(okta, monkeypatch, "plain", "svc")
    capsys.readouterr()
    assert main(["request", "-c", "plain", "http://api.example.com/orders"]) == 1
    assert "https" in capsys.readouterr().err
    assert main(["request", "-c", "plain", "FETCH", "https://api.example.com/"]) == 1
    assert main(["request", "-c", "plain", "https://a.example/", "-H", "Authorization: x"]) == 1
    assert main(["request", "-c", "plain", "https://a.example/", "--json", "{"]) == 1


def test_mock_issuer_command_registers_dpop_clients() -> None:
    import subprocess
    import sys

    import httpx

    from okta_guard.call.client import TokenClient

    argv = [sys.executable, "-m", "okta_guard", "mock-issuer", "--port", "0"]
    argv += [
        "--dpop-client",
        "d:s3cret-value:orders:read",
        "--client",
        "b:s3cret-value:orders:read",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        issuer = proc.stdout.readline().strip()
        with httpx.Client(trust_env=False) as http:
            bare = http.post(
                issuer + "/v1/token",
                data={"grant_type": "client_credentials", "scope": "orders:read"},
                auth=("d", "s3cret-value"),
            )
            assert (bare.status_code, bare.json()["error"]) == (400, "invalid_dpop_proof")
            client = TokenClient(
                issuer, "d", "s3cret-value", scopes=["orders:read"], http_client=http
            )
            assert client.get_token().token_type == "DPoP"
            plain = TokenClient(
                issuer, "b", "s3cret-value", scopes=["orders:read"], http_client=http
            )
            assert plain.get_token().token_type == "Bearer"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert "# client d: scopes orders:read; DPoP required" in err
    assert "s3cret" not in err
