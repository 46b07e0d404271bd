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
    with pytest.raises(argparse.ArgumentTypeError):
        parse_client("svc")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_client("svc::orders:read")


def test_parse_client_expresses_a_colon_in_the_secret() -> None:
    assert parse_client("svc:sec%3Aret:orders:read") == ("svc", "sec:ret", ["orders:read"])
    assert parse_client("a%3Ab:100%25:s") == ("a:b", "100%", ["s"])


@pytest.mark.parametrize(
    ("spec", "part"),
    [
        (":secret:s", "the client id (before the first ':') is empty"),
        ("svc", "no secret"),
        ("svc::s", "the secret (between the first and the second ':') is empty"),
        ("svc:secret", "no scopes after the secret"),
        ("svc:secret:", "no scopes after the secret"),
        ("svc:50%:s", "the secret has a '%' that is not followed by two hex digits"),
        ("svc:%ff:s", "not UTF-8"),
    ],
)
def test_parse_client_errors_name_the_wrong_part(spec: str, part: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_client(spec)
    assert part in str(info.value)


def test_parse_client_errors_never_echo_the_secret() -> None:
    for spec in ("svc:S3cr3tValue", "svc:S3cr3t%zz:s"):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            parse_client(spec)
        assert "S3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "99999"], "--port 99999 is out of range"),
        (["--port", "-1"], "out of range"),
        (["--token-lifetime", "-5"], "--token-lifetime must be at least 1"),
        (["--rate-limit", "0"], "--rate-limit must be at least 1"),
        (["--tls", "--tls-cert", "x.pem"], "not allowed with argument"),
    ],
)
def test_bad_mock_issuer_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mock-issuer", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_tls_cert_without_its_key_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import trustme

    cert_file = tmp_path / "cert.pem"
    trustme.CA().issue_cert("127.0.0.1").cert_chain_pems[0].write_to_path(str(cert_file))
    assert main(["mock-issuer", "--port", "0", "--tls-cert", str(cert_file)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "holds no private key: pass it with --tls-key" in err
    assert main(["mock-issuer", "--port", "0", "--tls-cert", str(tmp_path / "nope.pem")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["mock-issuer", "--port", "0", "--tls-key", str(cert_file)]) == 1
    assert "--tls-key goes with --tls-cert" in capsys.readouterr().err


def test_listening_beyond_loopback_warns(capsys: pytest.CaptureFixture[str]) -> None:
    from okta_guard.cli.mock_issuer import _warn_if_public

    _warn_if_public("127.0.0.1")
    _warn_if_public("localhost")
    assert capsys.readouterr().err == ""
    _warn_if_public("0.0.0.0")
    assert "listens beyond loopback" in capsys.readouterr().err


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_parsers(sub, (*path, name)))
    return found


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from okta_guard.cli import build_parser

    parsers = _parsers(build_parser())
    assert len(parsers) > 10
    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"okta-guard {' '.join(path)}: {action.option_strings} has no help"
    with pytest.raises(SystemExit):
        main(["mock-issuer", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default 3600, like Okta)" in out
    assert "(default: no limit)" in out
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    assert "--client-id CLIENT_ID" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["credentials", "show", "--help"])
    assert "the credential's name" in capsys.readouterr().out


def test_mock_issuer_tls_switch_prints_the_ca_path() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "okta_guard", "mock-issuer", "--port", "0", "--tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        issuer = proc.stdout.readline().strip()
        assert issuer.startswith("https://127.0.0.1:")
        line = proc.stderr.readline()
        assert line.startswith("# CA certificate: ")
        ca_file = line.split()[3]
        context = ssl.create_default_context(cafile=ca_file)
        with httpx.Client(verify=context, trust_env=False) as client:
            assert client.get(issuer + "/v1/keys").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert not Path(ca_file).exists()  # a throw-away CA


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
