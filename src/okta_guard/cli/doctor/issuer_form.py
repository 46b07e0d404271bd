"""Step 1, pure: is the configured issuer a custom authorization server URL?

Recognises the usual slips and names the URL to use instead: a pasted discovery
URL (``/.well-known/...``, also the RFC 8414 form), an endpoint (``/v1/keys``,
``/v1/token``), the org server (``https://{domain}``, ``/oauth2/v1``), a trailing
slash, the admin console domain, ``http://`` beyond loopback, a missing scheme.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from okta_guard.cli.doctor.report import Step
from okta_guard.errors import ConfigurationError
from okta_guard.settings import is_loopback_host, validate_issuer

__all__ = ["check_issuer_form", "suggest_issuer"]

_ENDPOINT = re.compile(r"/v1(/(keys|token|authorize|introspect|revoke|userinfo|logout))?/?$")
_RFC8414 = re.compile(r"^/\.well-known/(oauth-authorization-server|openid-configuration)(/.*)$")


def suggest_issuer(raw: str) -> tuple[str, list[str]]:
    """The issuer ``raw`` probably means, and what was changed (empty list: nothing)."""
    notes: list[str] = []
    value = raw.strip()
    if value != raw:
        notes.append("removed white space")
    if "://" not in value:
        value = "https://" + value
        notes.append("added https://")
    parts = urlsplit(value)
    scheme, host, path = parts.scheme.lower(), parts.netloc, parts.path
    if parts.query or parts.fragment:
        notes.append("dropped the query/fragment")
    if "-admin." in host:
        host = host.replace("-admin.", ".", 1)
        notes.append("dropped '-admin' (that is the admin console's domain)")
    if scheme == "http" and not is_loopback_host(parts.hostname or ""):
        scheme = "https"
        notes.append("https instead of http (Okta is served over https only)")
    rfc8414 = _RFC8414.match(path)
    if rfc8414:
        path = rfc8414.group(2)
        notes.append("this was an RFC 8414 discovery URL; the issuer is the part after it")
    elif "/.well-known/" in path:
        path = path.split("/.well-known/", 1)[0]
        notes.append("this was a discovery URL (/.well-known/...), not the issuer")
    if path.startswith("/oauth2/") and _ENDPOINT.search(path) and path.count("/") > 2:
        stripped = _ENDPOINT.sub("", path)
        if stripped.count("/") == 2:
            path = stripped
            notes.append("this was an endpoint URL (/v1/...), not the issuer")
    if path.endswith("/"):
        path = path.rstrip("/")
        notes.append("removed the trailing slash (Okta's issuer has none)")
    segments = path.split("/")
    if path in ("", "/oauth2", "/oauth2/v1") or path.startswith("/oauth2/v1/"):
        path = "/oauth2/default"
        notes.append(
            "this is the org authorization server, whose tokens cannot be verified locally; "
            "'default' is the built-in custom server"
        )
    elif len(segments) != 3 or segments[1] != "oauth2":
        return raw, notes
    return f"{scheme}://{host}{path}", notes


def check_issuer_form(raw: str | None, source: str) -> tuple[Step, str | None]:
    """Check the issuer's form; return the step and the issuer to use (``None``: stop)."""
    if raw is None or not raw.strip():
        return (
            Step(
                "issuer",
                "fail",
                "no issuer configured",
                "Pass --issuer https://{domain}/oauth2/{id} (or --domain and --auth-server), "
                "--credential NAME, or set OKTA_ISSUER (or OKTA_DOMAIN).",
            ),
            None,
        )
    details = {"issuer": raw, "source": source}
    try:
        issuer = validate_issuer(raw)
    except ConfigurationError as exc:
        suggestion, notes = suggest_issuer(raw)
        try:
            usable = validate_issuer(suggestion) if suggestion != raw else None
        except ConfigurationError:
            usable = None
        if usable is not None:
            fix = f"Use {usable!r} ({'; '.join(notes)})."
            details = {**details, "suggestion": usable}
        else:
            fix = exc.description
        return Step("issuer", "fail", f"{raw!r} ({source}) is not usable", fix, details), None
    parts = urlsplit(issuer)
    server_id = parts.path.rsplit("/", 1)[-1]
    kind = "the built-in custom server" if server_id == "default" else "a custom server"
    summary = f"{issuer} ({source}): {kind} {server_id!r} on {parts.netloc}"
    return Step("issuer", "ok", summary, details={**details, "server_id": server_id}), issuer
