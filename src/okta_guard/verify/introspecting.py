"""The introspection half of :class:`~okta_guard.TokenVerifier`: asking the issuer whether a
locally verified token is still active (``introspection=``, ``introspect_all=``).

A mixin over the verifier's state, like :class:`~okta_guard.verify.bound.DPoPVerification`;
the answers' cache, single flight and outage policy live in
:mod:`okta_guard.verify.revocation`.
"""

from __future__ import annotations

from collections.abc import Callable

from okta_guard.errors import ConfigurationError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.verify.introspection import Introspector
from okta_guard.verify.options import positive_seconds
from okta_guard.verify.revocation import AnswerStore, RevocationCheck

__all__ = ["IntrospectionVerification"]


class IntrospectionVerification:
    """Introspection for :class:`~okta_guard.TokenVerifier` (a mixin over its state)."""

    _issuer: str
    _clock: Callable[[], float]
    _revocation: RevocationCheck | None
    _introspect_all: RevocationCheck | None

    def _failed(self, exc: Exception) -> OktaGuardError:  # pragma: no cover - TokenVerifier's
        raise NotImplementedError

    def _setup_introspection(
        self,
        introspection: Introspector | None,
        *,
        introspect_all: bool,
        cache_ttl: float,
        fallback: float,
        store: AnswerStore | None,
        max_wait: float,
    ) -> None:
        """Check the introspection options; build the check (``None`` without a client)."""
        self._revocation = None
        self._introspect_all = None
        if introspection is None:
            if introspect_all:
                raise ConfigurationError(
                    "introspect_all=True needs introspection=IntrospectionClient(...)."
                )
            return
        self._revocation = RevocationCheck(
            introspection,
            self._issuer,
            cache_ttl=positive_seconds("introspection_cache_ttl", cache_ttl),
            fallback=positive_seconds("introspection_fallback", fallback),
            store=store,
            max_wait=max_wait,
            clock=self._clock,
        )
        if introspect_all:
            self._introspect_all = self._revocation

    @property
    def revocation(self) -> RevocationCheck | None:
        """The introspection check (``None`` without ``introspection=``)."""
        return self._revocation

    def _require_revocation(self) -> RevocationCheck:
        if self._revocation is None:
            raise ConfigurationError(
                f"A route requires introspection but the verifier of {self._issuer} has no "
                "introspection client: pass TokenVerifier(..., introspection="
                "IntrospectionClient(issuer, client_id, secret))."
            )
        return self._revocation

    def introspect(self, token: str, access_token: AccessToken) -> AccessToken:
        """Ask the issuer whether ``token`` (already verified as ``access_token``) is still
        active; return ``access_token`` or raise.

        ``InvalidTokenError`` (reason ``revoked`` or ``introspection_mismatch``),
        ``IssuerUnavailableError`` (503) when no answer can be had, ``ConfigurationError``
        when no introspection client is configured.  Answers are cached per token.
        """
        try:
            return self._require_revocation().check(token, access_token)
        except Exception as exc:
            raise self._failed(exc) from None

    async def introspect_async(self, token: str, access_token: AccessToken) -> AccessToken:
        """Async :meth:`introspect`."""
        try:
            return await self._require_revocation().check_async(token, access_token)
        except Exception as exc:
            raise self._failed(exc) from None

    def _no_cached_verdict(self, token: str | bytes) -> AccessToken | None:
        return None
