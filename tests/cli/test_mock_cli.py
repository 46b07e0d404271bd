"""The ``okta-guard mock-issuer`` and ``okta-guard demo`` commands."""

from __future__ import annotations

import argparse
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from okta_guard.cli import main
from okta_guard.cli.mock_issuer import parse_client


def test_parse_client_keeps_colons_in_scopes() -> None:
    assert parse_client("svc:secret:orders:read,orders:write") == (
        "svc",
        "secret",
        ["orders:read", "orders:write"],
    )
    assert parse_client("svc:secret") == ("svc", "secret", [])
    with pytest.raises(argparse.ArgumentTypeError):
        parse_client("svc")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_client("svc::orders:read")


def test_bad_client_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mock-issuer", "--port", "0", "--client", "nosecret"])
    assert exc.value.code == 2
    assert "ID:SECRET" in capsys.readouterr().err


def test_mock_issuer_command_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "okta_guard",
            "mock-issuer",
            "--port",
            "0",
            "--client",
            "svc:secret:orders:read,orders:write",
            "--auth-server",
            "default",
            "--auth-server",
            "aus2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        issuer = proc.stdout.readline().strip()
        second = proc.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:") and issuer.endswith("/oauth2/default")
        assert second == issuer.replace("/default", "/aus2")
        with httpx.Client(trust_env=False) as client:
            meta = client.get(issuer + "/.well-known/openid-configuration").json()
            token = client.post(
                meta["token_endpoint"],
                data={"grant_type": "client_credentials", "scope": "orders:read orders:write"},
                auth=("svc", "secret"),
            )
            wrong = client.post(
                meta["token_endpoint"],
                data={"grant_type": "client_credentials", "scope": "orders:read"},
                auth=("svc", "nope"),
            )
        assert meta["issuer"] == issuer
        assert token.status_code == 200
        claims = jwt.decode(token.json()["access_token"], options={"verify_signature": False})
        assert claims["iss"] == issuer and claims["scp"] == ["orders:read", "orders:write"]
        assert wrong.status_code == 401
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "secret" not in err


def test_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    # the full output is checked in test_demo.py
    assert main(["demo", "--in-process"]) == 0
    out = capsys.readouterr().out
    assert "trusting the mock Okta issuer" in out
    assert "All 15 calls were answered as expected" in out


def test_mock_issuer_command_serves_https(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "okta_guard",
            "mock-issuer",
            "--port",
            "0",
            "--tls-cert",
            str(cert_file),
            "--tls-key",
            str(key_file),
            "--audience",
            "api://x",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        issuer = proc.stdout.readline().strip()
        assert issuer.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(verify=context, trust_env=False) as client:
            assert client.get(issuer + "/v1/keys").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(issuer + "/v1/keys", trust_env=False)  # untrusted certificate
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0
