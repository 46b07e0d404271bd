"""A snapshot of a verifier's counters, for metrics and health checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from okta_guard.verify.key_policy import KeyCachePolicy

__all__ = ["VerifierStats"]


@dataclass(frozen=True)
class VerifierStats:
    """Counters of one :class:`~okta_guard.TokenVerifier` since it was created.

    ``fetches``: key set fetches started (discovery included in one fetch);
    ``fetch_failures``: of those, how many failed; ``stale_serves``: verifications
    that used a key set past its time to live (the issuer could not be reached
    or a refresh was under way); ``unknown_kids``: tokens rejected for a kid not
    in the key set; ``cache_hits`` / ``cache_misses``: verified-token cache;
    ``verdicts``: accepted tokens under ``"ok"``, rejections by reason
    (``"expired"``, ``"bad_signature"``, ...; ``"issuer_unavailable"`` for 503s).
    """

    fetches: int = 0
    fetch_failures: int = 0
    stale_serves: int = 0
    unknown_kids: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    verdicts: Mapping[str, int] = field(default_factory=dict)
    key_set_generation: int = 0
    keys_cached: int = 0
    cached_tokens: int = 0
    jwks_uri: str | None = None

    @classmethod
    def collect(
        cls,
        policy: KeyCachePolicy,
        refusals: dict[str, int],
        *,
        hits: int,
        accepted: int,
        cached_tokens: int,
        jwks_uri: str | None,
    ) -> VerifierStats:
        """The snapshot of one verifier: its key cache's counters, its refusals by reason,
        cache hits and tokens accepted after a full verification."""
        verdicts = dict(refusals)
        if hits + accepted:
            verdicts["ok"] = hits + accepted
        return cls(
            fetches=policy.fetches,
            fetch_failures=policy.fetch_failures,
            stale_serves=policy.stale_serves,
            unknown_kids=policy.unknown_kids,
            cache_hits=hits,
            cache_misses=accepted + sum(refusals.values()),
            verdicts=verdicts,
            key_set_generation=policy.generation,
            keys_cached=len(policy.keys),
            cached_tokens=cached_tokens,
            jwks_uri=jwks_uri,
        )

    @property
    def accepted(self) -> int:
        """Tokens accepted (cache hits included)."""
        return self.verdicts.get("ok", 0)

    @property
    def rejected(self) -> int:
        """Tokens refused, for any reason (503s included)."""
        return sum(count for reason, count in self.verdicts.items() if reason != "ok")
