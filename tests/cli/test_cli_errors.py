"""Every CLI error is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from okta_guard.cli import main
from okta_guard.testing import MockIssuer

SECRET = "errors-secret-0123456789-abcdefghij"


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=["orders:read"])
        yield server


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = b'{"alg":"RS256","kid":"k"}'


def _token(payload: bytes) -> str:
    return _b64(HEADER) + "." + _b64(payload) + ".c2ln"


def _run(*argv: str, stdin: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "okta_guard", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


# -- issue 10 #9: deeply nested payloads ------------------------------------------------


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_decode_of_a_deeply_nested_payload_is_one_line(depth: int) -> None:
    token = _token(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    code, _, err = _run("decode", "-", stdin=token)
    assert code == 1
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert "nested" in err


@pytest.mark.parametrize("depth", [100, 5000])
def test_verify_of_a_deeply_nested_payload_gives_a_verdict(depth: int) -> None:
    token = _token(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    issuer = "http://127.0.0.1:9/oauth2/default"
    code, out, err = _run("verify", "-", "--issuer", issuer, "--audience", "a", stdin=token)
    assert code == 1
    assert "Traceback" not in err
    assert "RecursionError" not in out + err


def test_decode_shows_a_modestly_nested_payload() -> None:
    token = _token(b'{"a":' + b"[" * 30 + b"]" * 30 + b"}")
    code, out, _ = _run("decode", "-", "--json", stdin=token)
    assert code == 0
    assert json.loads(out)["verified"] is False


# -- BrokenPipeError: piping into head ----------------------------------------------------


def _piped_into_closed_reader(*argv: str, stdin: str = "") -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "okta_guard", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    proc.stdout.close()  # the reader (head) is gone before anything is written
    proc.stdin.write(stdin)
    proc.stdin.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=60), err


def test_decode_into_a_closed_pipe_exits_quietly() -> None:
    token = _token(json.dumps({"big": "x" * 200_000}).encode())
    code, err = _piped_into_closed_reader("decode", "-", stdin=token)
    assert code == 141
    assert "Traceback" not in err
    assert "BrokenPipe" not in err


def test_verify_into_a_closed_pipe_exits_quietly() -> None:
    token = _token(json.dumps({"big": "x" * 200_000}).encode())
    issuer = "http://127.0.0.1:9/oauth2/default"
    code, err = _piped_into_closed_reader(
        "verify", "-", "--issuer", issuer, "--audience", "a", stdin=token
    )
    assert code == 141, err
    assert "BrokenPipe" not in err


def test_token_json_into_a_closed_pipe_exits_quietly(okta: MockIssuer) -> None:
    code, err = _piped_into_closed_reader(
        "token",
        "--json",
        "--issuer",
        okta.issuer,
        "--client-id",
        "svc",
        "--scope",
        "orders:read",
        "--secret-stdin",
        stdin=SECRET + "\n",
    )
    assert code == 141, err
    assert "BrokenPipe" not in err


# -- the secret prompt, scopes, and the last-resort handler --------------------------------


def test_ctrl_d_at_the_secret_prompt_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", eof)
    argv = ["credentials", "add", "x", "--issuer", "https://d.okta.com/oauth2/default"]
    assert main([*argv, "--client-id", "c", "--scope", "s"]) == 1
    err = capsys.readouterr().err
    assert "No client secret entered (end of input)." in err
    assert "Traceback" not in err


def test_credentials_add_requires_scopes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    argv = ["credentials", "add", "x", "--issuer", "https://d.okta.com/oauth2/default"]
    assert main([*argv, "--client-id", "c", "--secret-stdin"]) == 1
    assert "needs the scopes to request: add --scope SCOPE" in capsys.readouterr().err
    assert main(["credentials", "list"]) == 0
    assert "No credentials stored" in capsys.readouterr().out


def test_stored_credential_without_scopes_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from okta_guard.call.credential_store import Credential, CredentialStore

    issuer = "https://d.okta.com/oauth2/default"
    CredentialStore().add(Credential("old", issuer, "c", [], secret=SECRET))
    assert main(["token", "--credential", "old"]) == 1
    err = capsys.readouterr().err
    assert "The stored credential 'old' has no scopes" in err
    assert "credentials add old --replace" in err


def test_unexpected_errors_are_one_line_and_traceback_with_vv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: object) -> int:
        raise TypeError("something odd")

    monkeypatch.setattr("okta_guard.cli.verify._decode", boom)
    assert main(["decode", "x.y.z"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected TypeError: something odd" in err
    with pytest.raises(TypeError):
        main(["-vv", "decode", "x.y.z"])


def test_routes_of_an_app_that_needs_configuration_says_so() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "okta_guard", "routes", "examples.fastapi_app:app"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("OKTA_")},
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Building examples.fastapi_app:app needs its configuration" in done.stderr
    assert "OKTA_ISSUER" in done.stderr
