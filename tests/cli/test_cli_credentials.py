"""``okta-guard credentials``: add / list / show / remove round trip in a temp config dir."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from okta_guard.call.credential_store import Credential, CredentialStore, config_dir, resolve_secret
from okta_guard.cli import main
from okta_guard.errors import ConfigurationError

SECRET = "very-secret-client-secret-0123456789"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cfg"
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(directory))
    return directory


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str, tty: bool = False) -> None:
    stream = io.StringIO(text)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", stream)


def _add(*extra: str) -> list[str]:
    return [
        "credentials",
        "add",
        "orders",
        "--domain",
        "dev-123456.okta.com",
        "--client-id",
        "0oa1",
        "--scope",
        "orders:read orders:write",
        *extra,
    ]


def test_round_trip(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, SECRET + "\n")
    assert main(_add("--secret-stdin")) == 0
    path = config / "credentials.json"
    assert "Saved credential 'orders'" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    stored = data["credentials"]["orders"]
    assert stored["issuer"] == "https://dev-123456.okta.com/oauth2/default"
    assert stored["client_id"] == "0oa1"
    assert stored["scopes"] == ["orders:read", "orders:write"]
    assert stored["auth_method"] == "client_secret_basic"
    assert stored["secret"] == SECRET
    assert [p.name for p in config.iterdir()] == ["credentials.json"]  # no temp files left

    assert main(["credentials", "list"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "0oa1" in out and "********" in out
    assert SECRET not in out

    assert main(["credentials", "show", "orders"]) == 0
    out = capsys.readouterr().out
    assert "https://dev-123456.okta.com/oauth2/default" in out
    assert SECRET not in out

    assert main(["credentials", "show", "orders", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["secret"] == "********"
    assert shown["name"] == "orders"

    assert main(["credentials", "list", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == ["orders"]

    assert main(["credentials", "remove", "orders"]) == 0
    assert json.loads(path.read_text())["credentials"] == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["credentials", "list"]) == 0
    assert "No credentials stored" in capsys.readouterr().out


def test_env_reference_is_stored_and_resolved_at_use(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_add("--secret", "env:ORDERS_SECRET")) == 0
    stored = CredentialStore().get("orders")
    assert stored.secret == "env:ORDERS_SECRET"
    assert main(["credentials", "show", "orders"]) == 0
    assert "env:ORDERS_SECRET" in capsys.readouterr().out
    with pytest.raises(ConfigurationError, match="ORDERS_SECRET"):
        stored.client_kwargs({})
    assert stored.client_kwargs({"ORDERS_SECRET": "s"})["client_secret"] == "s"


def test_prompt_is_used_on_a_terminal(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, "", tty=True)
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert main(_add()) == 0
    assert prompts == ["Client secret for 0oa1: "]
    assert CredentialStore().get("orders").secret == SECRET


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (_add("--secret", SECRET), "only takes an env:VAR"),
        (_add(), "not a terminal"),
        (_add("--scope", "openid"), "OpenID Connect"),
        (
            ["credentials", "add", "bad name!", "--domain", "d.okta.com", "--client-id", "x"],
            "not valid",
        ),
        (["credentials", "add", "x", "--client-id", "x"], "No issuer"),
        (
            ["credentials", "add", "x", "--issuer", "https://d.okta.com", "--client-id", "x"],
            "custom authorization server",
        ),
        (_add("--auth-method", "private_key_jwt"), "needs --private-key-file"),
        (["credentials", "show", "missing"], "No credential named 'missing'"),
        (["credentials", "remove", "missing"], "No credential named 'missing'"),
    ],
)
def test_errors_are_one_line(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    _stdin(monkeypatch, "")
    monkeypatch.delenv("OKTA_ISSUER", raising=False)
    monkeypatch.delenv("OKTA_DOMAIN", raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert SECRET not in err


def test_duplicate_needs_replace(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, "one\n")
    assert main(_add("--secret-stdin")) == 0
    _stdin(monkeypatch, "two\n")
    assert main(_add("--secret-stdin")) == 1
    _stdin(monkeypatch, "two\n")
    assert main([*_add("--secret-stdin"), "--replace"]) == 0
    assert CredentialStore().get("orders").secret == "two"


def test_private_key_credential(config: Path, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n...\n")
    assert main(_add("--private-key-file", str(key), "--key-id", "k1")) == 0
    stored = CredentialStore().get("orders")
    assert stored.auth_method == "private_key_jwt"
    assert stored.private_key_file == str(key.resolve())
    assert stored.secret is None
    assert stored.key_id == "k1"


def _write_private(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    path.chmod(0o600)


def test_damaged_file_is_a_clear_error(config: Path) -> None:
    _write_private(config / "credentials.json", "{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        CredentialStore().list()
    _write_private(config / "credentials.json", '{"credentials": {"x": {"issuer": 1}}}')
    with pytest.raises(ConfigurationError, match="damaged"):
        CredentialStore().list()
    _write_private(config / "credentials.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        CredentialStore().list()


_STORED = {
    "credentials": {
        "orders": {
            "issuer": "https://d.okta.com/oauth2/default",
            "client_id": "c",
            "scopes": ["a"],
            "secret": SECRET,
        }
    }
}


@pytest.mark.parametrize("argv", [["credentials", "list"], ["token", "--credential", "orders"]])
def test_non_utf8_file_is_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _write_private(config / "credentials.json", b'{"credentials": {"caf\xe9": {}}}')
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not UTF-8 text" in err


def test_mistyped_name_suggests_stored_names(config: Path) -> None:
    _write_private(config / "credentials.json", json.dumps(_STORED))
    with pytest.raises(ConfigurationError, match="did you mean 'orders'"):
        CredentialStore().get("ordres")
    with pytest.raises(ConfigurationError, match="stored: 'orders'"):
        CredentialStore().get("billing")
    with pytest.raises(ConfigurationError, match="did you mean 'orders'"):
        CredentialStore().remove("order")


# -- issue 10 #8: the store refuses files and folders it cannot trust (ssh StrictModes) ----


def test_file_readable_by_others_is_refused(config: Path) -> None:
    path = config / "credentials.json"
    _write_private(path, json.dumps(_STORED))
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600") as info:
        CredentialStore().list()
    assert "0644" in info.value.description
    assert SECRET not in info.value.description
    path.chmod(0o600)
    assert [c.name for c in CredentialStore().list()] == ["orders"]


def test_world_writable_folder_is_refused(config: Path) -> None:
    _write_private(config / "credentials.json", json.dumps(_STORED))
    config.chmod(0o777)
    try:
        with pytest.raises(ConfigurationError, match="chmod 700"):
            CredentialStore().list()
        with pytest.raises(ConfigurationError, match="writable by other users"):
            CredentialStore().add(Credential("x", "https://d.okta.com/oauth2/default", "c", ["a"]))
    finally:
        config.chmod(0o700)


def _foreign_file(tmp_path: Path) -> Path:
    """A file that belongs to another user (as root: chowned to nobody; else /etc/passwd)."""
    if os.geteuid() != 0:
        return Path("/etc/passwd")
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o700)
    target = other / "their-credentials.json"
    target.write_text(json.dumps(_STORED))
    target.chmod(0o600)
    os.chown(target, 65534, 65534)
    return target


def test_symlink_to_another_owners_file_is_never_followed(config: Path, tmp_path: Path) -> None:
    config.mkdir(mode=0o700)
    target = _foreign_file(tmp_path)
    (config / "credentials.json").symlink_to(target)
    with pytest.raises(ConfigurationError, match="belongs to another user") as info:
        CredentialStore().list()
    assert "symbolic link" in info.value.description


def test_symlink_to_own_private_file_is_followed(config: Path, tmp_path: Path) -> None:
    config.mkdir(mode=0o700)
    dotfiles = tmp_path / "dotfiles"
    _write_private(dotfiles / "credentials.json", json.dumps(_STORED))
    (config / "credentials.json").symlink_to(dotfiles / "credentials.json")
    assert [c.name for c in CredentialStore().list()] == ["orders"]


def test_file_of_another_owner_is_refused(config: Path) -> None:
    if os.geteuid() != 0:  # not root: no file of another user can be made here; link to one
        (config / "credentials.json").parent.mkdir(mode=0o700)
        (config / "credentials.json").symlink_to("/etc/passwd")
        with pytest.raises(ConfigurationError, match="belongs to another user"):
            CredentialStore().list()
        return
    _write_private(config / "credentials.json", json.dumps(_STORED))
    os.chown(config / "credentials.json", 65534, 65534)
    with pytest.raises(ConfigurationError, match="belongs to another user"):
        CredentialStore().list()


def test_directory_is_not_a_file(config: Path) -> None:
    (config / "credentials.json").mkdir(parents=True)
    config.chmod(0o700)
    with pytest.raises(ConfigurationError):
        CredentialStore().list()


def test_config_dir_resolution(tmp_path: Path) -> None:
    assert config_dir({"OKTA_GUARD_CONFIG_DIR": str(tmp_path)}) == tmp_path
    assert config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "okta-guard"
    assert config_dir({}) == Path.home() / ".config" / "okta-guard"


def test_names_and_references_must_match_fully() -> None:
    with pytest.raises(ConfigurationError):
        CredentialStore.check_name("name\n")
    assert resolve_secret("env:VAR\n", {"VAR": "x"}) == "env:VAR\n"  # a literal, not a ref


def test_credential_repr_masks_the_secret() -> None:
    credential = Credential("n", "https://d.okta.com/oauth2/default", "c", ["a"], secret=SECRET)
    assert SECRET not in repr(credential)
    assert resolve_secret(None) is None
