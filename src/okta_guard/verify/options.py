"""Checks of TokenVerifier options, failing at construction with a message saying what to fix."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from okta_guard.errors import ConfigurationError
from okta_guard.settings import env_list, is_loopback_host, issuer_from_env
from okta_guard.verify.claims import ClaimRules
from okta_guard.verify.key_policy import PolicyConfig

__all__ = [
    "audiences_of",
    "checked_algorithms",
    "checked_jwks_uri",
    "checked_origin",
    "claim_rules",
    "key_policy_config",
    "options_from_env",
    "positive_seconds",
]


def positive_seconds(name: str, value: float, *, allow_zero: bool = True) -> float:
    """Return ``value`` as a finite, non-negative float (positive unless ``allow_zero``).

    ``True``/``False`` are refused: a flag where seconds belong is a mistake, not 1 s.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}.") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be a finite, positive number of seconds.")
    return number


def audiences_of(audience: str | Iterable[str]) -> tuple[str, ...]:
    """The configured audience(s) as a non-empty tuple of non-blank strings."""
    if isinstance(audience, str):
        items: tuple[object, ...] = (audience,)
    elif isinstance(audience, Iterable):
        items = tuple(audience)
    else:
        items = ()
    if not items or not all(isinstance(a, str) and a.strip() for a in items):
        raise ConfigurationError(
            "The audience is empty. Set it to the audience of your authorization server "
            "(Security > API > Authorization Servers, e.g. api://default), or OKTA_AUDIENCE."
        )
    return tuple(str(a) for a in items)


def checked_jwks_uri(jwks_uri: str) -> str:
    """An explicit ``jwks_uri`` must be an absolute https URL (http only for loopback)."""
    try:
        parts = urlsplit(jwks_uri)
        host = parts.hostname or ""
    except (TypeError, ValueError, AttributeError):
        raise ConfigurationError(f"jwks_uri {jwks_uri!r} is not a URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"jwks_uri {jwks_uri!r} is not an absolute http(s) URL.")
    if parts.scheme != "https" and not is_loopback_host(host):
        raise ConfigurationError(
            f"jwks_uri {jwks_uri!r} must use https (http only for loopback hosts)."
        )
    return jwks_uri


def checked_origin(origin: str) -> str:
    """A fixed external origin (``dpop_origin``): ``scheme://host[:port]``, no path, no slash."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except (TypeError, ValueError, AttributeError):
        raise ConfigurationError(f"dpop_origin {origin!r} is not a URL origin.") from None
    if parts.scheme not in ("https", "http") or not host or parts.path or parts.query:
        raise ConfigurationError(
            f"dpop_origin {origin!r} must be an origin like 'https://api.example.com' "
            "(scheme and host, optional port, no path; the app's root_path is added)."
        )
    return f"{parts.scheme}://{parts.netloc}"


def checked_algorithms(algorithms: str | Iterable[str], supported: Iterable[str]) -> frozenset[str]:
    """The allowed ``alg`` values: at least one, each of them ``supported``."""
    algs = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
    known = frozenset(supported)
    unsupported = [a for a in algs if a not in known]
    if not algs or unsupported:
        raise ConfigurationError(
            f"Unsupported algorithms {unsupported or list(algs)!r}: okta-guard verifies "
            f"only {sorted(known)} (Okta signs access tokens with RS256)."
        )
    return frozenset(algs)


def claim_rules(
    issuer: str,
    audience: str | Iterable[str],
    *,
    leeway: float,
    client_ids: str | Iterable[str] | None,
    required_claims: str | Iterable[str],
    max_token_lifetime: float | None,
    strict_rfc9068: bool,
) -> ClaimRules:
    """The verifier's claim rules, each option checked (a clear error for a bad one)."""
    allowed_ids: frozenset[str] | None = None
    if client_ids is not None:
        ids = (client_ids,) if isinstance(client_ids, str) else tuple(client_ids)
        if not ids or not all(isinstance(c, str) and c for c in ids):
            raise ConfigurationError(
                "client_ids is empty: list the allowed client ids, or pass None to allow any."
            )
        allowed_ids = frozenset(ids)
    if max_token_lifetime is not None:
        max_token_lifetime = positive_seconds(
            "max_token_lifetime", max_token_lifetime, allow_zero=False
        )
    extra = (required_claims,) if isinstance(required_claims, str) else tuple(required_claims)
    return ClaimRules(
        issuer=issuer,
        audiences=frozenset(audiences_of(audience)),
        leeway=positive_seconds("leeway", leeway),
        client_ids=allowed_ids,
        required_claims=extra,
        max_token_lifetime=max_token_lifetime,
        strict_rfc9068=bool(strict_rfc9068),
    )


def key_policy_config(
    *,
    fetch_deadline: float,
    jwks_cooldown: float,
    max_stale: float,
    min_key_ttl: float,
    max_key_ttl: float,
) -> PolicyConfig:
    """The key cache's tunables from the verifier's options, each checked."""
    deadline = positive_seconds("fetch_deadline", fetch_deadline, allow_zero=False)
    return PolicyConfig(
        # Every fetch and every wait for one ends by the deadline; a flight whose
        # driver vanished (its event loop closed) stops blocking others soon after.
        deadline=deadline,
        flight_timeout=deadline + 5.0,
        cooldown=positive_seconds("jwks_cooldown", jwks_cooldown),
        max_stale=positive_seconds("max_stale", max_stale),
        min_ttl=positive_seconds("min_key_ttl", min_key_ttl),
        max_ttl=max(positive_seconds("max_key_ttl", max_key_ttl), min_key_ttl),
    )


def options_from_env(
    env: Mapping[str, str], options: dict[str, Any]
) -> tuple[str, str | tuple[str, ...], dict[str, Any]]:
    """``TokenVerifier.from_env``'s reading: the issuer (``OKTA_ISSUER``, or ``OKTA_DOMAIN``
    + ``OKTA_AUTH_SERVER_ID``), the audience (``OKTA_AUDIENCE``, one or several) and the
    options, with ``OKTA_CLIENT_IDS`` added; keyword ``options`` win over the environment."""
    issuer = issuer_from_env(env)
    audience: str | tuple[str, ...] | None = options.pop("audience", None)
    if audience is None:
        audiences = env_list(env.get("OKTA_AUDIENCE"))
        if not audiences:
            raise ConfigurationError(
                "OKTA_AUDIENCE is not set: set it to your authorization server's audience "
                "(e.g. api://default)."
            )
        audience = audiences[0] if len(audiences) == 1 else audiences
    client_ids = env_list(env.get("OKTA_CLIENT_IDS"))
    if client_ids and "client_ids" not in options:
        options["client_ids"] = client_ids
    return issuer, audience, options
