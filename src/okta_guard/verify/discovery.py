"""Find the issuer's ``jwks_uri`` from its authorization server metadata (sans-IO).

The flow asks for ``{issuer}/.well-known/oauth-authorization-server`` and then
``{issuer}/.well-known/openid-configuration``.  Metadata is used only if its
``issuer`` equals the configured issuer exactly and its ``jwks_uri`` is on the
issuer's origin (scheme, host and port): anything else is refused, so that a
tampered or misrouted document cannot send the verifier to fetch keys elsewhere.
When no metadata is usable the verifier falls back to ``{issuer}/v1/keys``,
which is where Okta serves the keys of a custom authorization server.

The flow is a generator that yields :class:`~okta_guard._sansio.HttpRequest` and receives
:class:`~okta_guard._sansio.HttpResponse` (the shared vocabulary of :mod:`okta_guard._sansio`);
the key cache runs it with the shared drivers, which perform the I/O.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from urllib.parse import urlsplit

from okta_guard._sansio import HttpRequest, HttpResponse, expect_response
from okta_guard.errors import OktaGuardError
from okta_guard.verify.jws import parse_json_document

__all__ = [
    "DiscoveryRefusedError",
    "DiscoveryResult",
    "HttpRequest",
    "HttpResponse",
    "default_jwks_uri",
    "discovery_flow",
    "metadata_urls",
    "same_origin",
    "validate_metadata",
]


@dataclass(frozen=True)
class DiscoveryResult:
    """The ``jwks_uri`` to use.  ``final``: remember it (metadata accepted, or definitely
    absent/refused); otherwise discovery is tried again on the next fetch.  ``notes``
    are safe log lines describing what was refused or unreachable.  ``unreachable``:
    the issuer did not answer at all (no point fetching keys from the same host)."""

    jwks_uri: str
    final: bool
    notes: tuple[str, ...] = ()
    unreachable: bool = False


class DiscoveryRefusedError(ValueError):
    """Metadata that must not be used (issuer mismatch, foreign ``jwks_uri``, garbage)."""


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """The metadata documents to try, in order."""
    return (
        f"{issuer}/.well-known/oauth-authorization-server",
        f"{issuer}/.well-known/openid-configuration",
    )


def default_jwks_uri(issuer: str) -> str:
    """Where an Okta custom authorization server serves its keys."""
    return f"{issuer}/v1/keys"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(url: str, reference: str) -> bool:
    """Tell whether ``url`` has the scheme, host and port of ``reference``."""
    try:
        return _origin(url) == _origin(reference) and bool(_origin(url)[1])
    except ValueError:
        return False


def validate_metadata(issuer: str, body: bytes) -> str:
    """Return the ``jwks_uri`` of a metadata document, or raise :class:`DiscoveryRefusedError`."""
    try:
        metadata = parse_json_document(body)
    except OktaGuardError:
        raise DiscoveryRefusedError("metadata is not a JSON object") from None
    if metadata.get("issuer") != issuer:
        raise DiscoveryRefusedError("metadata issuer differs from the configured issuer")
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri or len(jwks_uri) > 2048:
        raise DiscoveryRefusedError("metadata has no jwks_uri")
    if not same_origin(jwks_uri, issuer) or urlsplit(jwks_uri).username is not None:
        raise DiscoveryRefusedError("metadata jwks_uri is not on the issuer's origin")
    return jwks_uri


def discovery_flow(
    issuer: str,
) -> Generator[HttpRequest, HttpResponse | None, DiscoveryResult]:
    """Yield metadata requests and return the ``jwks_uri`` to use.

    A transport error (timeout, connection refused) ends discovery at once
    with the non-final fallback: the keys live on the same host, so trying
    more documents would only add timeouts.
    """
    notes: list[str] = []
    final = True
    for url in metadata_urls(issuer):
        response = expect_response((yield HttpRequest(url)))
        if response.error is not None:
            notes.append(f"discovery {url} failed: {response.error}")
            return DiscoveryResult(
                default_jwks_uri(issuer), final=False, notes=tuple(notes), unreachable=True
            )
        if response.status != 200:
            notes.append(f"discovery {url} answered HTTP {response.status}")
            if response.status >= 500 or response.status == 429:
                final = False
            continue
        try:
            return DiscoveryResult(validate_metadata(issuer, response.body), final=True)
        except DiscoveryRefusedError as exc:
            notes.append(f"discovery {url} refused: {exc}")
    notes.append("using the default jwks_uri {issuer}/v1/keys")
    return DiscoveryResult(default_jwks_uri(issuer), final=final, notes=tuple(notes))
