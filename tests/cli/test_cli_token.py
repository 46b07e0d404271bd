"""``okta-guard token`` against a real loopback mock issuer, and the token table."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okta_guard.cli import main
from okta_guard.cli._output import TOKEN_COLUMNS, abbreviate, render_token_table, token_json
from okta_guard.models import ServiceToken
from okta_guard.testing import MockIssuer

SECRET = "cli-secret-0123456789-abcdefghijkl"


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=["orders:read", "orders:write"])
        yield server


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OKTA_ISSUER",
        "OKTA_DOMAIN",
        "OKTA_AUTH_SERVER_ID",
        "OKTA_CLIENT_ID",
        "OKTA_CLIENT_SECRET",
        "OKTA_SCOPES",
        "OKTA_AUTH_METHOD",
        "OKTA_PRIVATE_KEY",
        "OKTA_PRIVATE_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(tmp_path / "cfg"))


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _cid(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["cid"])


def _add_credential(okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, *extra: str) -> None:
    _stdin(monkeypatch, SECRET + "\n")
    argv = ["credentials", "add", "orders", "--issuer", okta.issuer, "--client-id", "svc"]
    assert main([*argv, "--scope", "orders:read", "--secret-stdin", *extra]) == 0


def test_token_for_a_stored_credential_prints_the_table(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_credential(okta, monkeypatch)
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["token", "--credential", "orders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split() == list(TOKEN_COLUMNS)
    assert set(lines[1].replace(" ", "")) == {"-"}
    access_token, token_type, expires_in, scope = lines[2].split()
    assert "..." in access_token  # the full token only with --raw / --json
    assert token_type == "Bearer"
    assert 3590 <= int(expires_in) <= 3600
    assert scope == "orders:read"


def test_stored_env_reference_is_resolved_when_used(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["credentials", "add", "ref", "--issuer", okta.issuer, "--client-id", "svc"]
    assert main([*argv, "--scope", "orders:read", "--secret", "env:ORDERS_SECRET"]) == 0
    assert main(["token", "-c", "ref", "--raw"]) == 1
    assert "ORDERS_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("ORDERS_SECRET", SECRET)
    assert main(["token", "-c", "ref", "--raw"]) == 0
    assert _cid(capsys.readouterr().out.strip()) == "svc"


def test_credentials_without_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["credentials"]) == 2
    assert "add" in capsys.readouterr().out


def test_token_json_raw_and_short(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_credential(okta, monkeypatch)
    capsys.readouterr()
    assert main(["token", "--credential", "orders", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["token_type"] == "Bearer"
    assert data["scope"] == "orders:read"
    assert _cid(data["access_token"]) == "svc"
    assert main(["token", "-c", "orders", "--raw"]) == 0
    raw = capsys.readouterr().out
    assert raw.count("\n") == 1
    assert _cid(raw.strip()) == "svc"
    assert main(["token", "-c", "orders", "--short", "--scope", "orders:write"]) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert "..." in row.split()[0]
    assert row.split()[-1] == "orders:write"


def test_token_from_environment(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKTA_ISSUER", okta.issuer)
    monkeypatch.setenv("OKTA_CLIENT_ID", "svc")
    monkeypatch.setenv("OKTA_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("OKTA_SCOPES", "orders:read,orders:write")
    monkeypatch.setenv("OKTA_AUTH_METHOD", "client_secret_post")
    assert main(["token", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scope"] == "orders:read orders:write"
    assert okta.requests[-1].form.get("client_id") == "svc"  # client_secret_post


def test_token_from_flags_with_domain_and_env_secret(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_SECRET", SECRET)
    domain = f"127.0.0.1:{okta.port}"
    argv = ["token", "--domain", domain, "--client-id", "svc", "--scope", "orders:read"]
    assert main([*argv, "--secret", "env:MY_SECRET", "--raw"]) == 0
    assert _cid(capsys.readouterr().out.strip()) == "svc"
    _stdin(monkeypatch, SECRET + "\n")
    assert main([*argv, "--secret-stdin", "--raw"]) == 0
    assert _cid(capsys.readouterr().out.strip()) == "svc"


def test_token_with_private_key_file(
    okta: MockIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    okta.register_client("pk-cli", scopes=["orders:read"], public_key=key.public_key())
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    argv = ["credentials", "add", "pk", "--issuer", okta.issuer, "--client-id", "pk-cli"]
    assert main([*argv, "--scope", "orders:read", "--private-key-file", str(path)]) == 0
    assert main(["token", "-c", "pk", "--raw"]) == 0
    assert _cid(capsys.readouterr().out.splitlines()[-1]) == "pk-cli"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token", "--client-id", "svc", "--scope", "orders:read"], "No issuer"),
        (["token", "--issuer", "{issuer}", "--scope", "orders:read"], "No client id"),
        (["token", "--issuer", "{issuer}", "--client-id", "svc"], "No scopes"),
        (["token", "--issuer", "{issuer}", "--client-id", "svc", "--scope", "a"], "secret"),
        (["token", "--credential", "nope"], "No credential named 'nope'"),
    ],
)
def test_token_configuration_errors(
    okta: MockIssuer, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.replace("{issuer}", okta.issuer) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_wrong_secret_is_one_clear_line(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BAD_SECRET", "definitely-wrong-secret")
    argv = ["token", "--issuer", okta.issuer, "--client-id", "svc", "--scope", "orders:read"]
    assert main([*argv, "--secret", "env:BAD_SECRET"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("okta-guard: error: ")
    assert "invalid_client" in captured.err
    assert "client id and secret" in captured.err
    assert captured.err.count("\n") == 1
    assert "definitely-wrong-secret" not in captured.err


def test_scope_not_granted_explains_the_okta_admin_fix(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    okta.register_client("narrow", SECRET, scopes=["orders:read"])
    monkeypatch.setenv("S", SECRET)
    argv = ["token", "--issuer", okta.issuer, "--client-id", "narrow", "--secret", "env:S"]
    assert main([*argv, "--scope", "orders:write"]) == 1
    assert "Access Policies" in capsys.readouterr().err


def _token(name: str, scopes: set[str]) -> ServiceToken:
    expires = dt.datetime.fromtimestamp(1_800_003_600, tz=dt.timezone.utc)
    return ServiceToken(name * 40, "Bearer", expires, frozenset(scopes))


def test_render_token_table_for_several_apps() -> None:
    table = render_token_table(
        [("orders", _token("a", {"orders:read"})), ("billing", _token("b", {"b:x", "a:y"}))],
        now=1_800_000_000,
        label="app",
    )
    lines = table.splitlines()
    assert lines[0].split() == ["app", *TOKEN_COLUMNS]
    assert lines[2].split() == ["orders", "a" * 40, "Bearer", "3600", "orders:read"]
    assert lines[3].split() == ["billing", "b" * 40, "Bearer", "3600", "a:y", "b:x"]
    short = render_token_table([(None, _token("c", set()))], now=1_800_003_700, short=True)
    row = short.splitlines()[2].split()
    assert row == [abbreviate("c" * 40), "Bearer", "0"]
    assert token_json(_token("d", {"s"}), 1_800_000_000)["expires_in"] == 3600


@pytest.mark.parametrize("columns", [40, 60, 100])
def test_token_table_fits_the_terminal_width(
    okta: MockIssuer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    columns: int,
) -> None:
    _add_credential(okta, monkeypatch)
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["token", "--credential", "orders"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns, out
    assert "orders:read" in out


def test_wide_table_is_expanded_to_fit_the_terminal() -> None:
    tokens = [("orders", _token("a", {"orders:read"})), ("billing", _token("b", {"b:x"}))]
    assert render_token_table(tokens, now=1_800_000_000, max_width=200).count("\n") == 3
    expanded = render_token_table(tokens, now=1_800_000_000, max_width=60, label="app")
    records = expanded.split("\n\n")
    assert len(records) == 2
    first = [line.split() for line in records[0].splitlines()]
    assert first == [
        ["app", "orders"],
        ["token.access_token", "a" * 40],
        ["token.token_type", "Bearer"],
        ["token.expires_in", "3600"],
        ["token.scope", "orders:read"],
    ]
