"""Configuration checks shared by the verifier and the token client.

An Okta *custom* authorization server has an issuer of the form
``https://{domain}/oauth2/{authServerId}``.  These helpers build and check that
URL and read the common environment variables, failing with a
:class:`~okta_guard.errors.ConfigurationError` that says what to fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from okta_guard.errors import ConfigurationError

__all__ = [
    "env_list",
    "is_loopback_host",
    "issuer_from_domain",
    "issuer_from_env",
    "validate_issuer",
]

_AUTH_SERVER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_issuer(issuer: str) -> str:
    """Check that ``issuer`` is a custom authorization server URL and return it unchanged.

    The issuer is compared byte for byte with the ``iss`` claim, so it is never
    normalised: a trailing slash or other difference is a configuration error.
    """
    if not isinstance(issuer, str) or not issuer.strip():
        raise ConfigurationError(
            "The issuer is empty. Set it to your custom authorization server, "
            "e.g. https://dev-123456.okta.com/oauth2/default (or OKTA_ISSUER)."
        )
    if issuer != issuer.strip():
        raise ConfigurationError("The issuer has leading or trailing white space; remove it.")
    if "{" in issuer or "}" in issuer or "yourOktaDomain" in issuer:
        raise ConfigurationError(
            f"The issuer {issuer!r} still holds a placeholder. Replace {{yourOktaDomain}} "
            "with your Okta domain (the 'Tenant ID' in the admin console, "
            "e.g. dev-123456.okta.com)."
        )
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(
            f"The issuer {issuer!r} is not an absolute URL; "
            "use https://{domain}/oauth2/{authServerId}."
        )
    if parts.scheme != "https" and not is_loopback_host(host):
        raise ConfigurationError(
            f"The issuer {issuer!r} must use https (plain http is allowed only for "
            "loopback hosts such as 127.0.0.1 and localhost, e.g. the mock issuer)."
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"The issuer {issuer!r} must not carry a query, fragment or user info."
        )
    if "-admin." in host:
        raise ConfigurationError(
            f"The issuer host {host!r} is the admin console domain. Drop '-admin': "
            f"use {host.replace('-admin.', '.', 1)!r}."
        )
    if parts.path.endswith("/"):
        raise ConfigurationError(
            f"The issuer {issuer!r} ends with a slash. Okta's issuer has none: "
            f"use {issuer.rstrip('/')!r}."
        )
    segments = parts.path.split("/")
    if len(segments) != 3 or segments[1] != "oauth2" or not _AUTH_SERVER_ID.match(segments[2]):
        raise ConfigurationError(_org_server_message(issuer))
    if segments[2] == "v1":
        # https://{domain}/oauth2/v1 is where the org server's endpoints live, not a server id
        raise ConfigurationError(
            _org_server_message(issuer, "'/oauth2/v1' is the org server's endpoint prefix. ")
        )
    return issuer


def _org_server_message(issuer: str, detail: str = "") -> str:
    return (
        f"The issuer {issuer!r} is not a custom authorization server. {detail}Tokens from the "
        "org authorization server (https://{domain} without /oauth2/{id}) cannot be "
        "validated locally because Okta does not publish their keys. Use a custom "
        "server such as https://{domain}/oauth2/default, or token introspection."
    )


def issuer_from_domain(domain: str, auth_server_id: str = "default") -> str:
    """Build the issuer URL from an Okta domain ("Tenant ID") and authorization server id.

    ``domain`` may be given with or without ``https://``.  Loopback domains get
    ``http://`` so that the mock issuer can be named the same way.  The rule for
    ``http://`` is the issuer's: allowed for loopback hosts only, refused otherwise
    (never silently rewritten).
    """
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigurationError(
            "The Okta domain is empty. Set it to your org's domain, e.g. dev-123456.okta.com "
            "(or OKTA_DOMAIN)."
        )
    raw = domain.strip().rstrip("/")
    scheme = "https"
    for prefix in ("https://", "http://"):
        if raw.lower().startswith(prefix):
            scheme, raw = prefix[:-3], raw[len(prefix) :]
    if not _DOMAIN.match(raw):
        raise ConfigurationError(
            f"The Okta domain {domain!r} is not a host name; give just the domain, "
            "e.g. dev-123456.okta.com."
        )
    if not _AUTH_SERVER_ID.match(auth_server_id or ""):
        raise ConfigurationError(
            f"The authorization server id {auth_server_id!r} is not valid; use 'default' or "
            "the id shown under Security > API > Authorization Servers."
        )
    host = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            f"The Okta domain {domain!r} uses http; Okta is served over https only (plain "
            "http is allowed only for loopback hosts such as the mock issuer). Give the "
            f"domain without a scheme: {raw!r}."
        )
    if is_loopback_host(host) and not domain.strip().lower().startswith("https://"):
        scheme = "http"
    return validate_issuer(f"{scheme}://{raw}/oauth2/{auth_server_id}")


def issuer_from_env(env: Mapping[str, str] | None = None) -> str:
    """Read the issuer from ``OKTA_ISSUER``, or ``OKTA_DOMAIN`` + ``OKTA_AUTH_SERVER_ID``."""
    env = os.environ if env is None else env
    issuer = env.get("OKTA_ISSUER", "").strip()
    if issuer:
        return validate_issuer(issuer)
    domain = env.get("OKTA_DOMAIN", "").strip()
    if domain:
        return issuer_from_domain(domain, env.get("OKTA_AUTH_SERVER_ID", "").strip() or "default")
    raise ConfigurationError(
        "No issuer configured: set OKTA_ISSUER (e.g. https://dev-123456.okta.com/oauth2/default) "
        "or OKTA_DOMAIN (and optionally OKTA_AUTH_SERVER_ID, default 'default')."
    )


def env_list(value: str | None) -> tuple[str, ...]:
    """Split a comma- or space-separated environment value into a tuple, dropping blanks."""
    if not value:
        return ()
    return tuple(item for item in re.split(r"[\s,]+", value) if item)
