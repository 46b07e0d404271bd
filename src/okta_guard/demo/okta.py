"""``okta-guard demo --okta``: the demo against a real Okta tenant.

Configuration (see ``docs/demo.md``):

* the issuer: ``OKTA_ISSUER``, or ``OKTA_DOMAIN`` + ``OKTA_AUTH_SERVER_ID``, or
  else the issuer of the stored ``--reader`` credential;
* the API's audience: ``OKTA_AUDIENCE`` (e.g. ``api://default``);
* two API Services apps: ``OKTA_READER_CLIENT_ID`` / ``OKTA_READER_CLIENT_SECRET``
  and ``OKTA_WRITER_CLIENT_ID`` / ``OKTA_WRITER_CLIENT_SECRET`` (optionally
  ``OKTA_{READER,WRITER}_AUTH_METHOD``), or credentials stored with
  ``okta-guard credentials add`` and named with ``--reader`` / ``--writer``.

The reader asks for the read scope, the writer for both scopes, whatever scopes
a stored credential lists.  The steps a real tenant cannot do on demand (an
expired token, a key rotation) are skipped with a note.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from okta_guard.call.client import TokenClient
from okta_guard.demo.scenario import Rotation, run_demo
from okta_guard.errors import ConfigurationError
from okta_guard.settings import issuer_from_env, validate_issuer
from okta_guard.verify.verifier import TokenVerifier

__all__ = ["OktaBackend", "OktaDemoSettings", "okta_settings", "run_okta_demo"]

_ROLES = ("reader", "writer")


@dataclass(frozen=True)
class OktaDemoSettings:
    """What ``--okta`` runs against; ``reader``/``writer`` are TokenClient keyword
    arguments (client id, secret or key, auth method), kept out of ``repr``."""

    issuer: str
    audience: str
    reader: Mapping[str, Any] = field(repr=False)
    writer: Mapping[str, Any] = field(repr=False)
    read_scope: str = "orders:read"
    write_scope: str = "orders:write"


def _from_credential(name: str, env: Mapping[str, str]) -> dict[str, Any]:
    from okta_guard.call.credential_store import CredentialStore

    kwargs = CredentialStore().get(name).client_kwargs(env)
    kwargs.pop("scopes", None)  # the demo decides which scopes each app asks for
    return kwargs


def _from_env(role: str, env: Mapping[str, str]) -> dict[str, Any]:
    prefix = f"OKTA_{role.upper()}_"
    client_id = env.get(prefix + "CLIENT_ID", "").strip()
    secret = env.get(prefix + "CLIENT_SECRET", "")
    if not client_id or not secret:
        raise ConfigurationError(
            f"No {role} app: set {prefix}CLIENT_ID and {prefix}CLIENT_SECRET (an API "
            f"Services app's credentials), or pass --{role} NAME (a credential stored with "
            "'okta-guard credentials add')."
        )
    kwargs: dict[str, Any] = {"client_id": client_id, "client_secret": secret}
    method = env.get(prefix + "AUTH_METHOD", "").strip()
    if method:
        kwargs["auth_method"] = method
    return kwargs


def okta_settings(
    env: Mapping[str, str] | None = None,
    *,
    reader: str | None = None,
    writer: str | None = None,
    read_scope: str = "orders:read",
    write_scope: str = "orders:write",
) -> OktaDemoSettings:
    """Read the ``--okta`` configuration from ``env`` (default ``os.environ``) and the
    stored credentials named by ``reader`` / ``writer``."""
    env = os.environ if env is None else env
    names = {"reader": reader, "writer": writer}
    apps = {
        role: _from_credential(name, env) if name else _from_env(role, env)
        for role, name in names.items()
    }
    if env.get("OKTA_ISSUER", "").strip() or env.get("OKTA_DOMAIN", "").strip():
        issuer = issuer_from_env(env)
    elif "issuer" in apps["reader"]:
        issuer = validate_issuer(apps["reader"]["issuer"])
    else:
        issuer = issuer_from_env(env)  # raises: says which variables to set
    for role in _ROLES:
        app_issuer = apps[role].pop("issuer", issuer)
        if app_issuer != issuer:
            raise ConfigurationError(
                f"The {role} credential {names[role]!r} belongs to {app_issuer}, not to the "
                f"issuer {issuer}: both apps must use the API's authorization server."
            )
    audience = env.get("OKTA_AUDIENCE", "").strip()
    if not audience:
        raise ConfigurationError(
            "OKTA_AUDIENCE is not set: set it to the authorization server's audience "
            "(Security > API > Authorization Servers, e.g. api://default)."
        )
    return OktaDemoSettings(
        issuer=issuer,
        audience=audience,
        reader=apps["reader"],
        writer=apps["writer"],
        read_scope=read_scope,
        write_scope=write_scope,
    )


class OktaBackend:
    """Tokens from a real Okta custom authorization server."""

    name = "your Okta tenant"
    async_clients: tuple[httpx.AsyncClient, ...] = ()

    def __init__(self, settings: OktaDemoSettings) -> None:
        self.issuer, self.audience = settings.issuer, settings.audience
        self.read_scope, self.write_scope = settings.read_scope, settings.write_scope
        self.reader = self._client(settings.reader, [self.read_scope])
        self.writer = self._client(settings.writer, [self.read_scope, self.write_scope])

    def _client(self, kwargs: Mapping[str, Any], scopes: list[str]) -> TokenClient:
        options = dict(kwargs)
        client_id = options.pop("client_id")
        secret = options.pop("client_secret", None)
        return TokenClient(self.issuer, client_id, secret, scopes=scopes, **options)

    def make_verifier(self) -> TokenVerifier:
        """A verifier with the default settings, as an API in production would use."""
        return TokenVerifier(self.issuer, self.audience)

    def expired_token(self) -> str | None:
        """Not available: Okta issues fresh tokens only."""
        return None

    def forged_kid_token(self) -> str | None:
        """Not available: only Okta holds the signing keys."""
        return None

    def rotate_keys(self) -> Rotation | None:
        """Not available: Okta rotates keys on its own schedule."""
        return None

    def key_requests(self) -> int | None:
        """Unknown for a real tenant."""
        return None

    def close(self) -> None:
        """Close the token clients' HTTP clients."""
        self.reader.close()
        self.writer.close()


def run_okta_demo(
    settings: OktaDemoSettings, out: TextIO, *, use_uvicorn: bool | None = None
) -> int:
    """Run the demo against the tenant ``settings`` describe; return the exit code."""
    backend = OktaBackend(settings)
    try:
        return run_demo(backend, out, use_uvicorn=use_uvicorn)
    finally:
        backend.close()
