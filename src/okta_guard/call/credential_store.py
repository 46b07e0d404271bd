"""Named service credentials stored in the user's config dir, for the ``okta-guard`` CLI.

The store is one JSON file, ``credentials.json``, in ``$OKTA_GUARD_CONFIG_DIR``, else
``$XDG_CONFIG_HOME/okta-guard``, else ``~/.config/okta-guard``.  The directory is
created with mode 0700 and the file is written atomically (temporary file, fsync,
rename) with mode 0600.  A secret is stored either as given or as an ``env:VAR``
reference resolved when the credential is used; it is masked in every ``repr``
and listing.

Like ssh's ``StrictModes``, the store *refuses* (never just warns about) a file it
cannot trust, on POSIX systems: a credentials file that other users may read or
write (any group/other permission bit), a file or a folder owned by another user,
a folder that other users may write to, a file that is not a regular file, and a
symbolic link whose target belongs to another user.  A symbolic link to a file of
one's own (a dotfiles manager) is followed; the checks apply to the opened file
itself, so a link swapped in between the check and the read cannot slip through.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from okta_guard._grammar import ENV_REFERENCE
from okta_guard.errors import ConfigurationError

__all__ = ["Credential", "CredentialStore", "config_dir", "mask_secret", "resolve_secret"]

FILE_NAME = "credentials.json"
MAX_FILE_SIZE = 1 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_REF = ENV_REFERENCE


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The okta-guard config directory (not created)."""
    env = os.environ if env is None else env
    explicit = env.get("OKTA_GUARD_CONFIG_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "okta-guard"


def is_env_reference(value: str) -> bool:
    """Tell whether ``value`` is an ``env:VAR`` reference."""
    return bool(_ENV_REF.fullmatch(value))


def resolve_secret(value: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """Return the secret itself, reading ``env:VAR`` references from the environment."""
    if value is None:
        return None
    match = _ENV_REF.fullmatch(value)
    if match is None:
        return value
    env = os.environ if env is None else env
    secret = env.get(match.group(1))
    if not secret:
        raise ConfigurationError(
            f"The credential's secret refers to the environment variable {match.group(1)}, "
            "which is not set."
        )
    return secret


def mask_secret(value: str | None) -> str:
    """Show a secret safely: ``env:VAR`` references as they are, literal secrets masked."""
    if value is None:
        return "(none)"
    if is_env_reference(value):
        return value
    return "********"


@dataclass
class Credential:
    """One named credential: everything needed to build a :class:`~okta_guard.TokenClient`."""

    name: str
    issuer: str
    client_id: str
    scopes: list[str]
    auth_method: str = "client_secret_basic"
    secret: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    key_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"Credential(name={self.name!r}, issuer={self.issuer!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r}, "
            f"auth_method={self.auth_method!r}, secret={mask_secret(self.secret)!r})"
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form (``name`` is the key, not repeated)."""
        data = asdict(self)
        data.pop("name")
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> Credential:
        """Read a stored credential, checking the types of its fields."""
        try:
            scopes = data.get("scopes", [])
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise TypeError("scopes")
            optional = {}
            for key in ("secret", "private_key_file", "key_id"):
                value = data.get(key)
                if value is not None and not isinstance(value, str):
                    raise TypeError(key)
                optional[key] = value
            return cls(
                name=name,
                issuer=str(data["issuer"]),
                client_id=str(data["client_id"]),
                scopes=list(scopes),
                auth_method=str(data.get("auth_method", "client_secret_basic")),
                **optional,
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"The stored credential {name!r} is damaged (field {exc}); remove and add it again."
            ) from None

    def client_kwargs(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments for :class:`~okta_guard.TokenClient`, with the secret resolved."""
        from okta_guard.call.config import read_key_file

        kwargs: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": resolve_secret(self.secret, env),
            "scopes": self.scopes,
            "auth_method": self.auth_method,
        }
        if self.private_key_file:
            kwargs["private_key"] = read_key_file(self.private_key_file)
        if self.key_id:
            kwargs["key_id"] = self.key_id
        return kwargs


class CredentialStore:
    """The credentials file: load, add, remove; every write is atomic and 0600."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else config_dir()
        self.path = self.directory / FILE_NAME

    @staticmethod
    def check_name(name: str) -> str:
        """Check a credential name (letters, digits, ``_ . -``; up to 64 characters)."""
        if not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"Credential name {name!r} is not valid: use letters, digits, '_', '.' or '-' "
                "(up to 64 characters, starting with a letter or digit)."
            )
        return name

    def _load(self) -> dict[str, Any]:
        try:
            raw = _read_private_file(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read {self.path}: {exc.strerror or type(exc).__name__}."
            ) from None
        if len(raw) > MAX_FILE_SIZE:
            raise ConfigurationError(f"{self.path} is larger than {MAX_FILE_SIZE} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{self.path} is not UTF-8 text; fix or remove it (it is JSON written by "
                "'okta-guard credentials add')."
            ) from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ConfigurationError(f"{self.path} is not valid JSON; fix or remove it.") from None
        creds = data.get("credentials") if isinstance(data, dict) else None
        if not isinstance(creds, dict):
            raise ConfigurationError(f"{self.path} has no 'credentials' object; fix or remove it.")
        return creds

    def list(self) -> list[Credential]:
        """All stored credentials, sorted by name."""
        return [Credential.from_json(n, d) for n, d in sorted(self._load().items())]

    def __iter__(self) -> Iterator[Credential]:
        return iter(self.list())

    def get(self, name: str) -> Credential:
        """The credential called ``name``; a :class:`ConfigurationError` if there is none."""
        creds = self._load()
        data = creds.get(name)
        if data is None:
            raise ConfigurationError(
                f"No credential named {name!r} in {self.path}{_did_you_mean(name, creds)}; "
                "add it with 'okta-guard credentials add'."
            )
        return Credential.from_json(name, data)

    def add(self, credential: Credential, *, replace: bool = False) -> None:
        """Store ``credential``; refuses to overwrite an existing name unless ``replace``."""
        self.check_name(credential.name)
        creds = self._load()
        if credential.name in creds and not replace:
            raise ConfigurationError(
                f"A credential named {credential.name!r} exists; remove it first or use --replace."
            )
        creds[credential.name] = credential.to_json()
        self._write(creds)

    def remove(self, name: str) -> None:
        """Delete the credential called ``name``."""
        creds = self._load()
        if name not in creds:
            raise ConfigurationError(
                f"No credential named {name!r} in {self.path}{_did_you_mean(name, creds)}."
            )
        del creds[name]
        self._write(creds)

    def _write(self, creds: Mapping[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_directory(self.directory)
        payload = json.dumps({"version": 1, "credentials": creds}, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _did_you_mean(name: str, creds: Mapping[str, Any]) -> str:
    """``; did you mean 'orders'?`` (close names), else the stored names, else nothing."""
    import difflib

    if not creds:
        return " (no credentials are stored)"
    close = difflib.get_close_matches(name, list(creds), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; stored: " + ", ".join(repr(c) for c in sorted(creds))


def _posix() -> bool:
    return os.name == "posix" and hasattr(os, "geteuid")


def _check_directory(directory: Path) -> None:
    """Refuse a folder owned by another user or writable by other users."""
    if not _posix():
        return
    info = os.stat(directory)
    if info.st_uid != os.geteuid():
        raise ConfigurationError(
            f"The credentials folder {directory} belongs to another user (uid {info.st_uid}); "
            "okta-guard does not use credentials others control. Use your own folder "
            "(OKTA_GUARD_CONFIG_DIR)."
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigurationError(
            f"The credentials folder {directory} is writable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), so they could replace the credentials; "
            f"refusing to use it. Fix: chmod 700 {directory}"
        )


def _read_private_file(path: Path) -> bytes:
    """Read the credentials file after checking it is safe to trust (see the module doc)."""
    if not _posix():
        return path.read_bytes()[: MAX_FILE_SIZE + 1]
    link = os.lstat(path)  # FileNotFoundError: nothing stored yet
    target = Path(os.path.realpath(path)) if stat.S_ISLNK(link.st_mode) else path
    _check_directory(path.parent)
    if target.parent != path.parent:
        _check_directory(target.parent)
    # O_NOFOLLOW: the checks below are made on what was opened, never on a link
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        what = f"{path} (a symbolic link to {target})" if target != path else str(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(f"The credentials file {what} is not a regular file.")
        if info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"The credentials file {what} belongs to another user (uid {info.st_uid}); "
                "okta-guard never reads credentials from another user's file. Remove it and "
                "add your credentials again."
            )
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"The credentials file {what} is accessible by other users (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); it may hold client secrets, so it is "
                f"refused. Fix: chmod 600 {target}"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_FILE_SIZE + 1)
    finally:
        os.close(fd)
