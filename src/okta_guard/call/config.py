"""Configuration checks of the token client: scopes, client id, extra parameters, environment.

Every check fails at construction time with a
:class:`~okta_guard.errors.ConfigurationError` that says what to fix, so a
misconfigured service stops at start-up instead of at its first token request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from okta_guard._grammar import is_scope_token
from okta_guard.errors import ConfigurationError
from okta_guard.settings import env_list, is_loopback_host, issuer_from_env

__all__ = [
    "OIDC_SCOPES",
    "client_arguments_from_env",
    "kwargs_from_env",
    "normalize_extra_params",
    "normalize_scopes",
]

OIDC_SCOPES = frozenset(
    {"openid", "profile", "email", "address", "phone", "offline_access", "device_sso", "groups"}
)
_RESERVED_PARAMS = frozenset(
    {
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)


def normalize_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Check the requested scopes and return them de-duplicated, in the given order.

    A string is split on white space and commas.  At least one scope is required
    (Okta answers ``invalid_scope`` otherwise), and OpenID Connect scopes such as
    ``openid`` are refused because Okta rejects them for the client credentials grant.
    """
    items = env_list(scopes) if isinstance(scopes, str) else tuple(scopes)
    result: list[str] = []
    for scope in items:
        if not isinstance(scope, str) or not is_scope_token(scope):
            raise ConfigurationError(
                f"Scope {scope!r} is not a valid OAuth scope (no spaces, quotes or backslashes)."
            )
        if scope in OIDC_SCOPES:
            raise ConfigurationError(
                f"Scope {scope!r} is an OpenID Connect scope; Okta does not allow it with the "
                "client credentials grant. Request a custom scope defined on the authorization "
                "server (Security > API > Authorization Servers > Scopes), e.g. 'orders:read'."
            )
        if scope.startswith("okta."):
            raise ConfigurationError(
                f"Scope {scope!r} is an Okta management API scope, granted only by the org "
                "authorization server; okta-guard requests tokens from a custom authorization "
                "server. Request a custom scope defined there instead."
            )
        if scope not in result:
            result.append(scope)
    if not result:
        raise ConfigurationError(
            "No scopes given. The client credentials grant needs at least one custom scope "
            "defined on the authorization server, e.g. scopes=['orders:read'] (or OKTA_SCOPES)."
        )
    return tuple(result)


def checked_endpoint_url(name: str, url: object) -> str:
    """An explicit endpoint that receives the client's credentials (``token_url``,
    ``introspection_url``): an absolute https URL (http only for loopback hosts), with a
    valid port and no ``user:password@`` part.  Raise :class:`ConfigurationError`."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{name} must be a URL string.")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigurationError(f"{name} {url[:200]!r} is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"{name} {url[:200]!r} is not an absolute http(s) URL.")
    if parts.scheme != "https" and not is_loopback_host(host):
        raise ConfigurationError(
            f"{name} {url[:200]!r} must use https (http only for loopback hosts): the client's "
            "credentials are sent to it."
        )
    if "@" in parts.netloc:
        raise ConfigurationError(
            f"{name} must not carry a user or password (user:password@host); give the "
            "client's credentials as client_secret or private_key."
        )
    return url


def check_client_id(client_id: object) -> str:
    """Check that the client id is a non-empty printable string and return it."""
    if not isinstance(client_id, str) or not client_id.strip():
        raise ConfigurationError(
            "The client id is empty. Copy it from Okta admin: Applications > your API Services "
            "app > General > Client Credentials (or set OKTA_CLIENT_ID)."
        )
    if client_id != client_id.strip() or not client_id.isprintable():
        raise ConfigurationError("The client id has white space or control characters; remove it.")
    return client_id


def normalize_extra_params(
    extra_params: Mapping[str, str] | None, audience: str | None
) -> dict[str, str]:
    """Merge ``audience`` into the extra token request parameters and check them."""
    params = dict(extra_params or {})
    if audience is not None:
        params["audience"] = audience
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError("Extra token parameters must map strings to strings.")
        if name in _RESERVED_PARAMS:
            raise ConfigurationError(
                f"Extra token parameter {name!r} is set by the client itself; remove it."
            )
    return params


def kwargs_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the token client settings from ``OKTA_*`` environment variables.

    ``OKTA_ISSUER`` (or ``OKTA_DOMAIN`` + ``OKTA_AUTH_SERVER_ID``), ``OKTA_CLIENT_ID``,
    ``OKTA_CLIENT_SECRET``, ``OKTA_SCOPES``, ``OKTA_AUTH_METHOD``,
    ``OKTA_PRIVATE_KEY`` (PEM or JWK text) or ``OKTA_PRIVATE_KEY_FILE``, ``OKTA_KEY_ID``,
    ``OKTA_DPOP`` (``auto``, ``always``, ``never``) and ``OKTA_DPOP_KEY_FILE``.
    Unset variables are left out of the result (the issuer too).
    """
    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {}
    if env.get("OKTA_ISSUER", "").strip() or env.get("OKTA_DOMAIN", "").strip():
        kwargs["issuer"] = issuer_from_env(env)
    for var, name in (
        ("OKTA_CLIENT_ID", "client_id"),
        ("OKTA_CLIENT_SECRET", "client_secret"),
        ("OKTA_AUTH_METHOD", "auth_method"),
        ("OKTA_KEY_ID", "key_id"),
        ("OKTA_PRIVATE_KEY", "private_key"),
    ):
        value = env.get(var, "").strip()
        if value:
            kwargs[name] = value
    scopes = env_list(env.get("OKTA_SCOPES"))
    if scopes:
        kwargs["scopes"] = scopes
    key_file = env.get("OKTA_PRIVATE_KEY_FILE", "").strip()
    if key_file and "private_key" not in kwargs:
        kwargs["private_key"] = read_key_file(key_file)
    dpop = env.get("OKTA_DPOP", "").strip().lower()
    if dpop:
        modes = {"auto": None, "always": True, "true": True, "never": False, "false": False}
        if dpop not in modes:
            raise ConfigurationError("OKTA_DPOP must be auto, always or never.")
        kwargs["dpop"] = modes[dpop]
    dpop_key_file = env.get("OKTA_DPOP_KEY_FILE", "").strip()
    if dpop_key_file:
        kwargs["dpop_key"] = read_key_file(dpop_key_file)
    return kwargs


def client_arguments_from_env(
    env: Mapping[str, str] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The token client's arguments from ``OKTA_*`` variables, ``overrides`` winning.

    Raises :class:`ConfigurationError` naming the variable to set when the issuer, the
    client id or the scopes are missing.
    """
    kwargs = kwargs_from_env(env)
    kwargs.update(overrides)
    if "issuer" not in kwargs:
        issuer_from_env(env)  # raises the error that says which variables to set
    if "client_id" not in kwargs:
        raise ConfigurationError(
            "No client id configured: set OKTA_CLIENT_ID (Okta admin: Applications > your "
            "API Services app > General > Client Credentials)."
        )
    if "scopes" not in kwargs:
        raise ConfigurationError(
            "No scopes configured: set OKTA_SCOPES to one or more custom scopes, "
            "e.g. 'orders:read'."
        )
    return kwargs


def read_key_file(path: str) -> str:
    """Read a private key file (PEM or JWK), with an error that does not echo its content."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"Cannot read the private key file {path!r}: {type(exc).__name__}."
        ) from None
