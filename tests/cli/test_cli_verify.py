"""``okta-guard verify`` (exit 0 valid / 1 invalid) and ``okta-guard decode`` (unverified)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from okta_guard.cli import main
from okta_guard.cli.verify import UNVERIFIED_BANNER, decode_unverified
from okta_guard.errors import InvalidTokenError
from okta_guard.testing import MockIssuer


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        yield server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OKTA_ISSUER", "OKTA_DOMAIN", "OKTA_AUDIENCE"):
        monkeypatch.delenv(var, raising=False)


def test_verify_valid_token(okta: MockIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = okta.mint_token(scopes=["orders:read"], client_id="svc")
    argv = ["verify", token, "--issuer", okta.issuer, "--audience", "api://default"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID")
    assert "orders:read" in out
    assert '"cid": "svc"' in out
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True
    assert data["claims"]["scp"] == ["orders:read"]


def test_verify_reads_stdin_and_env(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = okta.mint_token(scopes=["orders:read"])
    monkeypatch.setattr("sys.stdin", io.StringIO(f"Bearer {token}\n"))
    monkeypatch.setenv("OKTA_ISSUER", okta.issuer)
    monkeypatch.setenv("OKTA_AUDIENCE", "api://default")
    assert main(["verify", "-"]) == 0
    assert capsys.readouterr().out.startswith("VALID")


@pytest.mark.parametrize(
    ("mint", "extra"),
    [
        ({"expires_in": -600}, []),
        ({"audience": "api://other"}, []),
        ({"client_id": "intruder"}, ["--client-id", "svc"]),
    ],
)
def test_verify_invalid_tokens_exit_1(
    okta: MockIssuer,
    capsys: pytest.CaptureFixture[str],
    mint: dict[str, object],
    extra: list[str],
) -> None:
    token = okta.mint_token(scopes=["orders:read"], **mint)  # type: ignore[arg-type]
    argv = ["verify", token, "--issuer", okta.issuer, "--audience", "api://default", *extra]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID: ")
    assert "claims (unverified, for diagnosis only):" in out
    assert main([*argv, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert data["error"] == "invalid_token"
    assert data["claims_unverified"]["iss"] == okta.issuer


def test_verify_garbage_is_invalid(okta: MockIssuer, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "not-a-jwt", "--issuer", okta.issuer, "--audience", "api://default"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID")
    assert out.count("\n") == 1


def test_verify_needs_issuer_and_audience(
    okta: MockIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "x.y.z", "--audience", "api://default"]) == 1
    assert "No issuer" in capsys.readouterr().err
    assert main(["verify", "x.y.z", "--issuer", okta.issuer]) == 1
    assert "No audience" in capsys.readouterr().err


def test_verify_unreachable_issuer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with MockIssuer() as down:
        token = down.mint_token(scopes=["a"])
        issuer = down.issuer
    argv = ["verify", token, "--issuer", issuer, "--audience", "api://default"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") + captured.out.count("\n") == 1


def test_decode_is_labelled_unverified(
    okta: MockIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = okta.mint_token(scopes=["orders:read"], client_id="svc")
    assert main(["decode", token]) == 0
    out = capsys.readouterr().out
    assert out.startswith(UNVERIFIED_BANNER)
    assert "header (unverified)" in out
    assert "claims (unverified)" in out
    assert '"alg": "RS256"' in out
    assert '"cid": "svc"' in out
    assert "exp " in out and "(in " in out


def test_decode_json_and_stdin(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = okta.mint_token(scopes=["a"], expires_in=-60)
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["decode", "-", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verified"] is False
    assert data["header"]["kid"] == okta.active_kid()
    assert data["claims"]["scp"] == ["a"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc", "not a JWT"),
        ("a.b.c.d.e", "encrypted"),
        ("!!!.e30.x", "base64url"),
        ("WzFd.e30.x", "not a JSON object"),
        ("", "No token"),
    ],
)
def test_decode_errors(capsys: pytest.CaptureFixture[str], token: str, message: str) -> None:
    assert main(["decode", token]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_decode_unverified_function() -> None:
    header, claims = decode_unverified("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert header == {"alg": "none"}
    assert claims == {"sub": "x"}
    with pytest.raises(InvalidTokenError):
        decode_unverified("a.b")
