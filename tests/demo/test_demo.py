"""``okta-guard demo``: the whole run against the mock issuer, and ``--okta`` pointed at it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from okta_guard.call.credential_store import Credential, CredentialStore
from okta_guard.cli import main
from okta_guard.demo.mock import MockBackend
from okta_guard.demo.scenario import run_demo
from okta_guard.testing import MockIssuer
from okta_guard.verify.verifier import TokenVerifier

ROW = re.compile(r"^  (\d+)\s+(GET|POST)\s+(/\w+)\s+(.+?)\s+(\d{3})\s+(\S.*)$")
MOCK_STATUSES = [200, 401, 401, 403, 201, 200, 401, 200, 201, 200, 401, 401, 200, 401, 401]


def rows(out: str) -> list[tuple[int, str, str, str, int, str]]:
    found = []
    for line in out.splitlines():
        match = ROW.match(line)
        if match:
            n, method, path, who, status, answer = match.groups()
            found.append((int(n), method, path, who, int(status), answer))
    return found


def follow(out: str, number: int) -> list[str]:
    """The continuation lines under call ``number`` (the rest of its challenge)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {number}  "))
    extra = []
    for line in lines[start + 1 :]:
        if not line.startswith("     ") or ROW.match(line):
            break
        extra.append(line.strip())
    return extra


def assert_fits(out: str) -> None:
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


def test_demo_against_the_mock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert "(uvicorn on loopback)" in out
    assert re.search(r"issuer\s+http://127\.0\.0\.1:\d+/oauth2/default", out)
    assert re.search(r"orders API\s+http://127\.0\.0\.1:\d+ ", out)

    calls = rows(out)
    assert [c[0] for c in calls] == list(range(1, 16))
    assert [c[4] for c in calls] == MOCK_STATUSES
    by_number = {c[0]: c for c in calls}
    assert by_number[2][1:4] == ("GET", "/orders", "none")
    assert by_number[2][5] == 'Bearer realm="api://default"'
    assert by_number[3][3] == "reader+forged scp"
    assert by_number[3][5] == 'Bearer error="invalid_token"'
    assert by_number[4][1:4] == ("POST", "/orders", "reader")
    assert by_number[4][5] == 'Bearer error="insufficient_scope"'
    assert 'scope="orders:write"' in follow(out, 4)
    assert by_number[5][1:4] == ("POST", "/orders", "writer")
    assert by_number[6][1:4] == ("GET", "/orders", "reader")
    assert by_number[7][3] == "reader, expired"
    assert by_number[7][5] == 'Bearer error="invalid_token"'
    assert 'error_description="The access token expired."' in follow(out, 7)
    assert [by_number[n][3] for n in (8, 9, 10, 11, 12)] == [
        "reader, new key",
        "writer, new key",
        "reader, new key",
        "reader, old key",
        "unknown kid",
    ]

    # the token table of the CLI, one row per app
    assert re.search(r"token\.access_token\s+token\.token_type\s+token\.expires_in", out)
    assert re.search(r"eyJ\S+\.\.\.\S+\s+Bearer\s+\d+\s+orders:read\s*$", out, re.M)
    assert re.search(r"eyJ\S+\.\.\.\S+\s+Bearer\s+\d+\s+orders:read orders:write$", out, re.M)

    # the rotation: one key set fetch, then the cache
    assert "Key rotation: new tokens accepted after 1 key set fetch (#8)" in out
    assert re.search(r"^  fetches\s+1\s+1\s+2$", out, re.M)
    assert re.search(r"^  unknown_kids\s+0\s+0\s+2$", out, re.M)
    assert re.search(r"^  requests to /v1/keys\s+1\s+1\s+2$", out, re.M)
    assert re.search(r"old kid\s+\S+\.\.\.\n\s+new kid\s+\S+\.\.\.", out)
    assert "Verdicts: ok 6, bad_signature 1, expired 1, unknown_kid 2." in out
    assert "All 15 calls were answered as expected" in out
    # the DPoP app: Okta's nonce dance, a call with a proof, a replay and a stolen token
    assert "5. A DPoP-bound app (RFC 9449)" in out
    assert re.search(r"1\. no proof\s+400 invalid_dpop_proof", out)
    assert re.search(r"2\. proof, no nonce\s+400 use_dpop_nonce", out)
    assert re.search(r"3\. proof \+ nonce\s+200 token_type DPoP", out)
    assert [by_number[n][3] for n in (13, 14, 15)] == [
        "dpop app (DPoP)",
        "same proof again",
        "dpop token as Bearer",
    ]
    assert by_number[14][5] == "DPoP" and 'error="invalid_dpop_proof"' in follow(out, 14)
    assert by_number[15][5] == 'Bearer error="invalid_token"'
    for pointer in ("Quickstart", "Caching and key rotation", "examples/", "docs/demo.md"):
        assert pointer in out


def test_demo_in_process_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--in-process"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert "orders API  http://orders.localhost (in-process)" in out
    assert "--in-process: the API runs in-process" in out
    assert [c[4] for c in rows(out)] == MOCK_STATUSES


def test_demo_without_uvicorn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert "uvicorn is not installed (pip install 'okta-guard[testing]')" in out
    assert [c[4] for c in rows(out)] == MOCK_STATUSES


def test_demo_fails_when_an_answer_is_unexpected(capsys: pytest.CaptureFixture[str]) -> None:
    class WrongAudience(MockBackend):
        def make_verifier(self) -> TokenVerifier:
            return TokenVerifier(self.issuer, "api://someone-else", clock=self.clock)

    with MockIssuer() as okta:
        backend = WrongAudience(okta)
        try:
            assert run_demo(backend, sys.stdout, use_uvicorn=False) == 1
        finally:
            backend.close()
    out = capsys.readouterr().out
    assert_fits(out)
    assert "calls were NOT answered as expected" in out
    assert re.search(r"#5 POST /orders \(writer\): 401, expected 201", out)


def _okta_env(monkeypatch: pytest.MonkeyPatch, okta: MockIssuer) -> None:
    for name in ("OKTA_ISSUER", "OKTA_DOMAIN", "OKTA_AUTH_SERVER_ID", "OKTA_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    okta.register_client("0oa-reader", "reader-secret-value", scopes=["orders:read"])
    okta.register_client(
        "0oa-writer", "writer-secret-value", scopes=["orders:read", "orders:write"]
    )
    monkeypatch.setenv("OKTA_AUDIENCE", okta.audience)


def _apps_env(
    monkeypatch: pytest.MonkeyPatch, okta: MockIssuer, reader_secret: str = "reader-secret-value"
) -> None:
    """Point ``--okta`` at the mock, with both apps given through OKTA_* variables."""
    _okta_env(monkeypatch, okta)
    monkeypatch.setenv("OKTA_ISSUER", okta.issuer)
    monkeypatch.setenv("OKTA_READER_CLIENT_ID", "0oa-reader")
    monkeypatch.setenv("OKTA_READER_CLIENT_SECRET", reader_secret)
    monkeypatch.setenv("OKTA_WRITER_CLIENT_ID", "0oa-writer")
    monkeypatch.setenv("OKTA_WRITER_CLIENT_SECRET", "writer-secret-value")


def test_demo_okta_from_environment(
    okta_issuer_server: MockIssuer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    okta = okta_issuer_server
    _apps_env(monkeypatch, okta)

    assert main(["demo", "--okta"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert "trusting your Okta tenant" in out
    assert f"issuer      {okta.issuer}" in out
    assert "client 0oa-reader, scope orders:read" in out
    assert [c[4] for c in rows(out)] == [200, 401, 401, 403, 201, 200]
    assert "Skipped: an expired token" in out
    assert "Skipped against a real tenant" in out
    assert "All 6 calls were answered as expected" in out
    assert "secret-value" not in out
    # the tokens really came from the tenant's token endpoint, client credentials
    token_requests = [r for r in okta.requests if r.endpoint == "token"]
    assert len(token_requests) == 2
    assert all(r.status == 200 for r in token_requests)


def test_demo_okta_with_stored_credentials(
    okta_issuer_server: MockIssuer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    okta = okta_issuer_server
    _okta_env(monkeypatch, okta)
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("DEMO_READER_SECRET", "reader-secret-value")
    store = CredentialStore()
    store.add(
        Credential(
            "orders-reader",
            okta.issuer,
            "0oa-reader",
            ["orders:read", "orders:write"],  # the demo asks for the read scope only
            secret="env:DEMO_READER_SECRET",
        )
    )
    store.add(
        Credential("orders-writer", okta.issuer, "0oa-writer", [], secret="writer-secret-value")
    )

    args = ["demo", "--okta", "--reader", "orders-reader", "--writer", "orders-writer"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert f"issuer      {okta.issuer}" in out  # taken from the stored credential
    assert [c[4] for c in rows(out)] == [200, 401, 401, 403, 201, 200]
    assert "secret-value" not in out


def test_demo_okta_credential_of_another_issuer(
    okta_issuer_server: MockIssuer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    okta = okta_issuer_server
    _okta_env(monkeypatch, okta)
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("OKTA_ISSUER", okta.issuer)
    other = "https://dev-123456.okta.com/oauth2/default"
    CredentialStore().add(Credential("elsewhere", other, "0oa-x", [], secret="s"))
    monkeypatch.setenv("OKTA_READER_CLIENT_ID", "0oa-reader")
    monkeypatch.setenv("OKTA_READER_CLIENT_SECRET", "reader-secret-value")

    assert main(["demo", "--okta", "--writer", "elsewhere"]) == 1
    err = capsys.readouterr().err
    assert "The writer credential 'elsewhere' belongs to" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "No reader app: set OKTA_READER_CLIENT_ID and OKTA_READER_CLIENT_SECRET"),
        (
            {"OKTA_READER_CLIENT_ID": "r", "OKTA_READER_CLIENT_SECRET": "x"},
            "No writer app: set OKTA_WRITER_CLIENT_ID",
        ),
        (
            {
                "OKTA_READER_CLIENT_ID": "r",
                "OKTA_READER_CLIENT_SECRET": "x",
                "OKTA_WRITER_CLIENT_ID": "w",
                "OKTA_WRITER_CLIENT_SECRET": "y",
            },
            "No issuer configured: set OKTA_ISSUER",
        ),
        (
            {
                "OKTA_ISSUER": "https://dev-123456.okta.com/oauth2/default",
                "OKTA_READER_CLIENT_ID": "r",
                "OKTA_READER_CLIENT_SECRET": "x",
                "OKTA_WRITER_CLIENT_ID": "w",
                "OKTA_WRITER_CLIENT_SECRET": "y",
            },
            "OKTA_AUDIENCE is not set",
        ),
    ],
)
def test_demo_okta_configuration_errors(
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "OKTA_ISSUER",
        "OKTA_DOMAIN",
        "OKTA_AUDIENCE",
        "OKTA_READER_CLIENT_ID",
        "OKTA_READER_CLIENT_SECRET",
        "OKTA_WRITER_CLIENT_ID",
        "OKTA_WRITER_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["demo", "--okta"]) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_reader_and_writer_need_okta(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--reader", "x"]) == 1
    assert "--reader and --writer go with --okta" in capsys.readouterr().err


def test_demo_with_other_scope_names(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--in-process", "--read-scope", "orders:list", "--write-scope", "orders:add"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert re.search(r"POST /orders\s+orders:add$", out, re.M)
    assert 'scope="orders:add"' in follow(out, 4)
    assert [c[4] for c in rows(out)] == MOCK_STATUSES


def test_demo_okta_token_refused(
    okta_issuer_server: MockIssuer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    okta = okta_issuer_server
    _apps_env(monkeypatch, okta, reader_secret="not-the-secret")

    assert main(["demo", "--okta"]) == 1
    captured = capsys.readouterr()
    assert "invalid_client" in captured.err or "client id and secret" in captured.err
    assert captured.err.count("\n") == 1  # one line, no traceback
    assert "not-the-secret" not in captured.err + captured.out


def test_demo_as_a_program_prints_nothing_else() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "okta_guard", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no server logs, warnings or tracebacks
    assert_fits(result.stdout)
    assert [c[4] for c in rows(result.stdout)] == MOCK_STATUSES
