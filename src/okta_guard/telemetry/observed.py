"""What the observable counters read: the watched verifiers' own plain-integer counters.

Verifiers and ``MultiIssuerVerifier`` routers register here (held weakly); at
collection time each observable counter reads their counters, so the cached-token
hot path pays nothing at all for telemetry.
"""

from __future__ import annotations

import weakref
from typing import Any

__all__ = ["OBSERVED", "routers", "unknown_issuer_rows", "verifiers"]

#: The verifiers whose counters are reported (``TokenVerifier``), held weakly.
verifiers: weakref.WeakSet[Any] = weakref.WeakSet()
#: The ``MultiIssuerVerifier`` routers whose unknown-issuer refusals are reported.
routers: weakref.WeakSet[Any] = weakref.WeakSet()


def _issuer(verifier: Any) -> dict[str, str]:
    return {"okta_guard.issuer": str(verifier.issuer)}


def _read_verifications(verifier: Any) -> list[tuple[int, dict[str, str]]]:
    stats = verifier.stats
    statuses = verifier.reason_statuses
    rows = []
    for reason, count in stats.verdicts.items():
        if reason == "ok":
            outcome = "accepted"
        else:
            outcome = "unavailable" if statuses.get(reason, 401) >= 500 else "refused"
        attrs = {**_issuer(verifier), "okta_guard.outcome": outcome}
        if reason != "ok":
            attrs["okta_guard.reason"] = reason
        rows.append((count, attrs))
    return rows


def unknown_issuer_rows(router: Any) -> list[tuple[int, dict[str, str]]]:
    """The ``okta_guard.verifications`` row of a router's refusals of unknown issuers."""
    attrs = {
        "okta_guard.issuers": ",".join(router.issuers),
        "okta_guard.outcome": "refused",
        "okta_guard.reason": "unknown_issuer",
    }
    return [(int(router.unknown_issuers), attrs)]


def _stat(field: str) -> Any:
    def read(verifier: Any) -> list[tuple[int, dict[str, str]]]:
        return [(int(getattr(verifier.stats, field)), _issuer(verifier))]

    return read


def _revocation(field: str) -> Any:
    def read(verifier: Any) -> list[tuple[int, dict[str, str]]]:
        check = verifier.revocation
        if check is None:
            return []
        return [(int(getattr(check.stats, field)), _issuer(verifier))]

    return read


#: Each observable counter: its name, what it reads from one verifier, its description.
OBSERVED = (
    ("okta_guard.verifications", _read_verifications, "Token verifications by outcome, reason"),
    ("okta_guard.verdict_cache.hits", _stat("cache_hits"), "Tokens answered from the cache"),
    ("okta_guard.keys.fetches", _stat("fetches"), "Key set fetches"),
    ("okta_guard.keys.fetch_failures", _stat("fetch_failures"), "Failed key set fetches"),
    ("okta_guard.keys.stale_serves", _stat("stale_serves"), "Keys used past their lifetime"),
    (
        "okta_guard.introspection.cache_hits",
        _revocation("cache_hits"),
        "Introspection answers reused from the cache",
    ),
    (
        "okta_guard.introspection.fallbacks",
        _revocation("fallbacks"),
        "Old introspection answers used while Okta was unreachable",
    ),
)
