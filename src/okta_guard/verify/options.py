"""Checks of TokenVerifier options, failing at construction with a message saying what to fix."""

from __future__ import annotations

import math
from collections.abc import Iterable
from urllib.parse import urlsplit

from okta_guard.errors import ConfigurationError
from okta_guard.settings import is_loopback_host

__all__ = ["audiences_of", "checked_jwks_uri", "checked_origin", "positive_seconds"]


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
