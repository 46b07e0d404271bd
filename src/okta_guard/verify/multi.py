"""MultiIssuerVerifier: accept access tokens from a fixed set of authorization servers.

Okta allows one audience per custom authorization server, so an API serving several
product lines, a staging and a production org or a partner's org must accept tokens
from several issuers.  :class:`MultiIssuerVerifier` holds one
:class:`~okta_guard.verify.verifier.TokenVerifier` per issuer and hands each token to
the one whose issuer equals the token's (unverified) ``iss`` exactly.  The chosen
verifier then does the whole verification with its own keys, audience, client
allowlist and caches, so a token that claims issuer A but is signed with B's key is
refused by A (B's key is not in A's key set).

Reading ``iss`` before the signature only routes the token: nothing is trusted
until the chosen verifier has checked the signature.  The routing parse has the
verifiers' size and structure limits; an ``iss`` naming no configured issuer is
refused (401, reason ``unknown_issuer``) before any key fetch, and a flood of them
costs a dictionary miss each and no memory (only a counter grows).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from okta_guard import telemetry
from okta_guard.errors import ConfigurationError, InvalidTokenError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.settings import env_list
from okta_guard.verify.jws import CheckedHeader, decode_payload, parse_token, reject
from okta_guard.verify.stats import VerifierStats
from okta_guard.verify.verifier import TokenVerifier

__all__ = ["MultiIssuerVerifier"]


class MultiIssuerVerifier:
    """Verifies access tokens of several Okta custom authorization servers.

    ``MultiIssuerVerifier([TokenVerifier(issuer_a, aud_a), TokenVerifier(issuer_b, aud_b)])``
    fits everywhere a :class:`~okta_guard.TokenVerifier` does (the middleware,
    :func:`~okta_guard.require_scopes`, FastAPI's ``OktaAuth``, the audit).  Each
    issuer may appear once.  The verifiers are owned: :meth:`close` and
    :meth:`aclose` close them all.
    """

    def __init__(self, verifiers: Iterable[TokenVerifier]) -> None:
        chosen: dict[str, TokenVerifier] = {}
        for verifier in verifiers:
            if not isinstance(verifier, TokenVerifier):
                raise ConfigurationError(
                    "MultiIssuerVerifier takes TokenVerifier objects, one per issuer; got "
                    f"{type(verifier).__name__}."
                )
            if verifier.issuer in chosen:
                raise ConfigurationError(
                    f"The issuer {verifier.issuer!r} is configured twice; give each "
                    "authorization server exactly one TokenVerifier (list several audiences "
                    "in it if needed)."
                )
            chosen[verifier.issuer] = verifier
        if not chosen:
            raise ConfigurationError(
                "MultiIssuerVerifier needs at least one TokenVerifier (one per issuer)."
            )
        self._by_issuer = chosen
        self._get = chosen.get
        self._verifiers = tuple(chosen.values())
        self._max_size = max(v.max_token_size for v in self._verifiers)
        self._algorithms = frozenset().union(*(v.algorithms for v in self._verifiers))
        self._headers: dict[bytes, CheckedHeader] = {}
        self._cached_checks = tuple(v.verify_cached for v in self._verifiers)
        self._unknown_issuers = 0
        audiences: dict[str, None] = {}
        for verifier in self._verifiers:
            aud = verifier.audience
            audiences.update(dict.fromkeys((aud,) if isinstance(aud, str) else aud))
        self._audience = tuple(audiences)
        telemetry.watch_router(self)

    # -- construction helpers ------------------------------------------------------------

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> MultiIssuerVerifier:
        """Build from ``OKTA_ISSUERS`` and ``OKTA_AUDIENCES`` (comma separated, paired by
        position), or one ``OKTA_AUDIENCE`` shared by every issuer.

        ``OKTA_CLIENT_IDS`` (comma separated), when set, applies to every issuer.
        Without ``OKTA_ISSUERS`` the single-issuer variables of
        :meth:`TokenVerifier.from_env` are read.  Keyword ``options`` go to every
        :class:`TokenVerifier`.
        """
        source = os.environ if env is None else env
        issuers = env_list(source.get("OKTA_ISSUERS"))
        if not issuers:
            return cls([TokenVerifier.from_env(source, **options)])
        audiences = env_list(source.get("OKTA_AUDIENCES"))
        if not audiences:
            audiences = env_list(source.get("OKTA_AUDIENCE"))
            if len(audiences) == 1:
                audiences = audiences * len(issuers)
        if len(audiences) != len(issuers):
            raise ConfigurationError(
                f"OKTA_ISSUERS lists {len(issuers)} issuer(s) but OKTA_AUDIENCES lists "
                f"{len(audiences)} audience(s): give one audience per issuer, in the same order "
                "(e.g. OKTA_ISSUERS=https://a.okta.com/oauth2/x,https://b.okta.com/oauth2/y "
                "OKTA_AUDIENCES=api://x,api://y), or one OKTA_AUDIENCE for all."
            )
        client_ids = env_list(source.get("OKTA_CLIENT_IDS"))
        if client_ids and "client_ids" not in options:
            options["client_ids"] = client_ids
        return cls(
            TokenVerifier(issuer, audience, **options)
            for issuer, audience in zip(issuers, audiences, strict=True)
        )

    # -- public properties -----------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The first configured issuer (for messages; see :attr:`issuers` for all)."""
        return self._verifiers[0].issuer

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every configured issuer, in configuration order."""
        return tuple(self._by_issuer)

    @property
    def audience(self) -> tuple[str, ...]:
        """Every configured audience (deduplicated, in configuration order)."""
        return self._audience

    @property
    def verifiers(self) -> tuple[TokenVerifier, ...]:
        """The verifiers, one per issuer, in configuration order."""
        return self._verifiers

    def verifier_for(self, issuer: str) -> TokenVerifier | None:
        """The verifier of ``issuer`` (compared exactly), or ``None``."""
        return self._get(issuer)

    @property
    def unknown_issuers(self) -> int:
        """How many tokens named an issuer that is not configured (refused unseen)."""
        return self._unknown_issuers

    @property
    def stats(self) -> dict[str, VerifierStats]:
        """A snapshot of each verifier's counters, by issuer."""
        return {issuer: v.stats for issuer, v in self._by_issuer.items()}

    def __repr__(self) -> str:
        return f"MultiIssuerVerifier(issuers={self.issuers!r})"

    # -- verification --------------------------------------------------------------------

    def _route(self, token: str) -> TokenVerifier:
        """The verifier named by ``token``'s unverified ``iss``; refuse anything else."""
        try:
            parsed = parse_token(
                token,
                max_size=self._max_size,
                algorithms=self._algorithms,
                header_cache=self._headers,
            )
            claims = decode_payload(parsed)
        except InvalidTokenError:
            raise
        except Exception:  # fail closed, whatever the input
            raise reject("malformed") from None
        iss = claims.get("iss")
        verifier = self._get(iss) if type(iss) is str else None
        if verifier is None:
            self._unknown_issuers += 1
            raise InvalidTokenError(
                "The access token was not issued by an accepted authorization server.",
                reason="unknown_issuer",
            )
        return verifier

    def verify(self, token: str) -> AccessToken:
        """Verify ``token`` with the verifier of its issuer; see :meth:`TokenVerifier.verify`."""
        cached = self.verify_cached(token)
        if cached is not None:
            return cached
        return self._route(token).verify(token)

    async def verify_async(self, token: str) -> AccessToken:
        """Like :meth:`verify`, without blocking the event loop."""
        cached = self.verify_cached(token)
        if cached is not None:
            return cached
        return await self._route(token).verify_async(token)

    def verify_cached(self, token: str | bytes) -> AccessToken | None:
        """The cached verdict of any issuer's verifier (one dictionary lookup per issuer).

        A verifier only ever caches tokens of its own issuer, so at most one can hold it.
        """
        for check in self._cached_checks:
            hit = check(token)
            if hit is not None:
                return hit
        return None

    # -- DPoP (each issuer's verifier applies its own dpop= setting) ------------------

    @property
    def dpop_mode(self) -> str:
        """``"required"`` if every issuer requires DPoP, ``"disabled"`` if none accepts it,
        else ``"allowed"`` (a Bearer token is still refused by an issuer requiring DPoP)."""
        modes = {v.dpop_mode for v in self._verifiers}
        if len(modes) == 1:
            return next(iter(modes))
        return "allowed" if modes != {"disabled"} else "disabled"

    @property
    def dpop_algorithms(self) -> tuple[str, ...]:
        """The proof algorithms any issuer's verifier accepts."""
        found: dict[str, None] = {}
        for verifier in self._verifiers:
            if verifier.dpop_mode != "disabled":
                found.update(dict.fromkeys(verifier.dpop_algorithms))
        return tuple(found)

    @property
    def dpop_origin(self) -> str | None:
        """The first verifier's fixed external origin (give them all the same one)."""
        return next((v.dpop_origin for v in self._verifiers if v.dpop_origin), None)

    def verify_dpop(self, token: str, proof: str | None, *, method: str, url: str) -> AccessToken:
        """Verify a DPoP-bound token and its proof with its issuer's verifier."""
        return self._route(token).verify_dpop(token, proof, method=method, url=url)

    async def verify_dpop_async(
        self, token: str, proof: str | None, *, method: str, url: str
    ) -> AccessToken:
        """Async :meth:`verify_dpop`."""
        verifier = self._route(token)
        return await verifier.verify_dpop_async(token, proof, method=method, url=url)

    def _owner(self, access_token: AccessToken) -> TokenVerifier:
        verifier = self._get(access_token.issuer)
        if verifier is None:  # not one of ours: never accepted here
            raise InvalidTokenError(
                "The access token was not issued by an accepted authorization server.",
                reason="unknown_issuer",
            )
        return verifier

    def introspect(self, token: str, access_token: AccessToken) -> AccessToken:
        """Ask the token's issuer whether it is still active (see
        :meth:`TokenVerifier.introspect`)."""
        return self._owner(access_token).introspect(token, access_token)

    async def introspect_async(self, token: str, access_token: AccessToken) -> AccessToken:
        """Async :meth:`introspect`."""
        return await self._owner(access_token).introspect_async(token, access_token)

    # -- life cycle ----------------------------------------------------------------------

    def prewarm(self) -> None:
        """Fetch every issuer's keys now; raise the first failure after trying them all."""
        failure: OktaGuardError | None = None
        for verifier in self._verifiers:
            try:
                verifier.prewarm()
            except OktaGuardError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    async def prewarm_async(self) -> None:
        """Fetch every issuer's keys concurrently; raise the first failure after all ran."""
        results = await asyncio.gather(
            *(v.prewarm_async() for v in self._verifiers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def clear_cache(self) -> None:
        """Forget every verified token of every issuer (keys stay cached)."""
        for verifier in self._verifiers:
            verifier.clear_cache()

    def close(self) -> None:
        """Close the HTTP clients the verifiers created themselves."""
        for verifier in self._verifiers:
            verifier.close()

    async def aclose(self) -> None:
        """Stop background refreshes and close owned clients of every verifier."""
        for verifier in self._verifiers:
            await verifier.aclose()

    def __enter__(self) -> MultiIssuerVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> MultiIssuerVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
