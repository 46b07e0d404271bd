"""Steps 2-5, pure: discovery, the metadata's ``issuer``, the key set, the clock.

Each function judges an answer the runner fetched (:class:`Answer`); none does I/O,
so every failure is unit-testable from a literal answer.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from okta_guard.cli.doctor.report import Step
from okta_guard.verify.discovery import same_origin
from okta_guard.verify.keyset import InvalidKeySetError, parse_key_set

__all__ = [
    "Answer",
    "check_clock",
    "check_discovery",
    "check_keys",
    "check_metadata",
    "parse_json_object",
]

#: Skew below this is normal (HTTP dates have a one-second resolution, plus latency).
CLOCK_OK = 5.0


@dataclass(frozen=True)
class Answer:
    """What a GET got: ``status`` 0 and ``error`` set when no answer arrived."""

    url: str
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive)."""
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or ``None``."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _server_id(issuer: str) -> str:
    return urlsplit(issuer).path.rsplit("/", 1)[-1]


def check_discovery(
    issuer: str, answer: Answer, *, default_probe: Answer | None = None
) -> tuple[Step, dict[str, Any] | None]:
    """Judge the metadata answer; return the step and the metadata (``None``: stop).

    ``default_probe`` is the answer of ``https://{domain}/oauth2/default``'s metadata,
    fetched when the configured server answered 404 (it tells a wrong server id
    from a wrong domain).
    """
    url = answer.url
    if answer.status == 0:
        host = urlsplit(issuer).netloc
        return (
            Step(
                "discovery",
                "fail",
                f"{url}: no answer ({answer.error or 'network error'})",
                f"Check the domain {host!r} (the 'Tenant ID' in the admin console), DNS, "
                "proxy and firewall settings (HTTPS_PROXY).",
                {"url": url, "error": answer.error},
            ),
            None,
        )
    if answer.status == 404:
        server_id = _server_id(issuer)
        origin = issuer[: -len(f"/oauth2/{server_id}")]
        if default_probe is not None and default_probe.status == 200 and server_id != "default":
            hint = (
                f"This org has no authorization server {server_id!r}, but it has 'default': "
                f"use {origin}/oauth2/default, or copy the Issuer URI of your server from "
                "Security > API > Authorization Servers."
            )
        else:
            hint = (
                f"There is no authorization server {server_id!r} at {origin}: copy the Issuer "
                "URI from Security > API > Authorization Servers (the server id is the part "
                "after /oauth2/, e.g. 'default' or 'aus1a2b3c4d5e6f7g8h9'), and check the domain."
            )
        return (
            Step(
                "discovery",
                "fail",
                f"{url} answered 404 (unknown authorization server id {server_id!r}?)",
                hint,
                {"url": url, "status": 404, "server_id": server_id},
            ),
            None,
        )
    if answer.status != 200:
        retry = " Okta is having trouble; try again later." if answer.status >= 500 else ""
        return (
            Step(
                "discovery",
                "fail",
                f"{url} answered {answer.status}",
                f"Expected 200 with the server's metadata.{retry} A proxy or firewall may "
                "also answer in Okta's place.",
                {"url": url, "status": answer.status},
            ),
            None,
        )
    metadata = parse_json_object(answer.body)
    if metadata is None:
        return (
            Step(
                "discovery",
                "fail",
                f"{url} answered 200 but not with a JSON object",
                "Something other than Okta answers at this URL (a proxy or a web page?); "
                "check the issuer.",
                {"url": url, "status": 200},
            ),
            None,
        )
    return Step("discovery", "ok", f"{url} answered 200", details={"url": url}), metadata


def check_metadata(issuer: str, metadata: Mapping[str, Any]) -> tuple[Step, str]:
    """The metadata's ``issuer`` must equal the configured issuer exactly; its ``jwks_uri``
    must be on the issuer's origin.  Returns the step and the ``jwks_uri`` to fetch (the
    verifier's fallback ``{issuer}/v1/keys`` when the metadata is refused)."""
    fallback = f"{issuer}/v1/keys"
    found = metadata.get("issuer")
    jwks_uri = metadata.get("jwks_uri")
    details = {"issuer": found, "jwks_uri": jwks_uri}
    if found != issuer:
        return (
            Step(
                "metadata",
                "fail",
                f"the metadata's issuer is {found!r}, the configured issuer is {issuer!r}",
                f"Configure exactly {found!r} (tokens carry it as 'iss'; it is compared byte "
                "for byte)."
                if isinstance(found, str) and found
                else "The server's metadata names no issuer; is this an Okta authorization server?",
                details,
            ),
            fallback,
        )
    if not isinstance(jwks_uri, str) or not same_origin(jwks_uri, issuer):
        return (
            Step(
                "metadata",
                "warn",
                f"issuer matches, but jwks_uri {jwks_uri!r} is refused (not on the issuer's "
                f"origin); keys come from {fallback}",
                "Okta serves the keys at {issuer}/v1/keys; a proxy may be rewriting the metadata.",
                details,
            ),
            fallback,
        )
    return Step("metadata", "ok", f"issuer matches; keys at {jwks_uri}", details=details), jwks_uri


def check_keys(answer: Answer, algorithms: frozenset[str] = frozenset({"RS256"})) -> Step:
    """The key set: how many keys, which algorithms, which are usable, ``Cache-Control``."""
    url = answer.url
    if answer.status != 200:
        what = f"answered {answer.status}" if answer.status else f"no answer ({answer.error})"
        return Step(
            "keys",
            "fail",
            f"{url} {what}",
            "The verifier needs this key set to check signatures; check the issuer "
            "(a 404 means the authorization server id is wrong).",
            {"url": url, "status": answer.status},
        )
    try:
        content = parse_key_set(answer.body, algorithms=algorithms)
    except InvalidKeySetError as exc:
        return Step("keys", "fail", f"{url}: {exc}", "Check that the URL is Okta's /v1/keys.")
    document = parse_json_object(answer.body) or {}
    entries = [k for k in document.get("keys", []) if isinstance(k, dict)]
    algs = sorted({str(k.get("alg", "?")) for k in entries})
    cache_control = answer.header("cache-control")
    details = {
        "url": url,
        "keys": len(entries),
        "usable": sorted(content.keys),
        "unusable": sorted(content.unusable),
        "ambiguous": sorted(content.ambiguous),
        "algorithms": algs,
        "cache_control": cache_control,
    }
    summary = (
        f"{len(entries)} key(s), {len(content.keys)} usable ({', '.join(algs) or 'no alg'}); "
        f"Cache-Control: {cache_control or '(none)'}"
    )
    if not content.keys:
        return Step(
            "keys",
            "fail",
            summary,
            "No key can verify RS256 tokens (RSA, use 'sig', at least 2048 bits, unique kid); "
            "every token would be refused.",
            details,
        )
    if content.unusable or content.ambiguous or not cache_control:
        notes = []
        if content.unusable or content.ambiguous:
            bad = sorted(content.unusable | content.ambiguous)
            notes.append(f"keys {', '.join(bad)} cannot be used (tokens they sign are refused)")
        if not cache_control:
            notes.append("no Cache-Control: the verifier caches the keys for its minimum time")
        return Step("keys", "warn", summary, "; ".join(notes) + ".", details)
    return Step("keys", "ok", summary, details=details)


def check_clock(date_header: str | None, now: float, leeway: float) -> Step:
    """Compare the local clock with the server's ``Date`` header."""
    if not date_header:
        return Step("clock", "warn", "the server sent no Date header; skew unknown")
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return Step("clock", "warn", f"the server's Date header {date_header!r} is not a date")
    if server.tzinfo is None:
        server = server.replace(tzinfo=_dt.timezone.utc)
    skew = now - server.timestamp()
    direction = "ahead of" if skew > 0 else "behind"
    summary = f"local clock {abs(skew):.0f} s {direction} the server's Date (leeway {leeway:g} s)"
    details = {"skew_seconds": round(skew, 1), "leeway": leeway, "date": date_header}
    if abs(skew) <= CLOCK_OK:
        return Step("clock", "ok", summary, details=details)
    effect = (
        "fresh tokens look issued in the future / not yet valid"
        if skew < 0
        else "tokens look expired before their time"
    )
    fix = f"Synchronise this machine's clock (NTP: 'timedatectl set-ntp true'); {effect}."
    if abs(skew) <= leeway:
        return Step("clock", "warn", summary, fix, details)
    return Step("clock", "fail", summary, fix, details)
