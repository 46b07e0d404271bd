"""DPoP-bound access tokens in :class:`~okta_guard.TokenVerifier`: ``verify_dpop``.

A request with ``Authorization: DPoP <token>`` and a ``DPoP`` proof is accepted when
the proof passes :class:`~okta_guard.verify.dpop.DPoPChecker`, the token passes every
check of a Bearer token except that it *must* be bound (``cnf.jkt``), and the binding
holds (``ath``, ``cnf.jkt``).  Bound tokens have a verdict cache of their own, so a
DPoP-bound token can never come out of the Bearer path's cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from okta_guard.errors import InvalidTokenError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.verify.claims import ClaimRules, check_claims, check_typ
from okta_guard.verify.dpop import DPoPChecker, DPoPMode, DPoPProof
from okta_guard.verify.jws import (
    CheckedHeader,
    ParsedToken,
    decode_payload,
    parse_token,
    reject,
    verify_signature,
)
from okta_guard.verify.key_cache import KeyCache
from okta_guard.verify.keyset import KeyEntry
from okta_guard.verify.revocation import RevocationCheck

__all__ = ["BoundTokenCache", "DPoPVerification"]


class BoundTokenCache:
    """Accepted DPoP-bound tokens: ``token -> (AccessToken, exp, nbf, kid, key entry)``.

    Bounded (least recently used out first), thread-safe for writes, lock-free for hits.
    Apart from the Bearer path's cache on purpose: a bound token can never come out of it.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = max(0, int(maxsize))
        self.entries: OrderedDict[str, tuple[AccessToken, float, float, str, KeyEntry]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def get(
        self, token: str, now: float, leeway: float, current: Callable[[str, float], Any]
    ) -> AccessToken | None:
        """The cached result while the token is in date and its key still the current one."""
        found = self.entries.get(token)
        if found is None:
            return None
        result, exp, nbf, kid, key = found
        if now - leeway >= exp or now + leeway < nbf or current(kid, now) is not key:
            return None  # a full verification decides (and replaces the entry)
        try:  # noqa: SIM105 - cheaper than contextlib.suppress
            self.entries.move_to_end(token)
        except KeyError:  # evicted meanwhile; the verdict still holds
            pass
        return result

    def put(self, token: str, value: tuple[AccessToken, float, float, str, KeyEntry]) -> None:
        """Remember an accepted token."""
        if not self.maxsize:
            return
        with self._lock:
            self.entries[token] = value
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)

    def purge_kids(self, kids: frozenset[str]) -> int:
        """Forget tokens signed by keys that left the key set; return how many."""
        with self._lock:
            gone = [t for t, value in self.entries.items() if value[3] in kids]
            for token in gone:
                del self.entries[token]
        return len(gone)

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self.entries.clear()


def _unbound() -> InvalidTokenError:
    return InvalidTokenError(
        "The access token is not DPoP-bound; send it as 'Authorization: Bearer <token>'.",
        reason="not_dpop_bound",
    )


class DPoPVerification:
    """The DPoP half of :class:`~okta_guard.TokenVerifier` (a mixin over its state)."""

    _dpop_mode: DPoPMode
    _dpop: DPoPChecker
    _dpop_origin: str | None
    _bound: BoundTokenCache
    _clock: Callable[[], float]
    _keys: KeyCache
    _headers: dict[bytes, CheckedHeader]
    _max_token_size: int
    _algorithms: frozenset[str]
    _strict: bool
    _rules: ClaimRules
    _leeway: float
    _current_key: Callable[[str, float], KeyEntry | None]
    _hits: int
    _accepted: int
    _introspect_all: RevocationCheck | None

    def _failed(self, exc: Exception) -> OktaGuardError:  # pragma: no cover - TokenVerifier's
        raise NotImplementedError

    # -- public properties -----------------------------------------------------------------

    @property
    def dpop_mode(self) -> DPoPMode:
        """``"allowed"``, ``"required"`` or ``"disabled"``: which schemes this verifier accepts."""
        return self._dpop_mode

    @property
    def dpop_algorithms(self) -> tuple[str, ...]:
        """The proof ``alg`` values accepted (for ``algs=`` challenges and RFC 9728 metadata)."""
        return self._dpop.algorithms

    @property
    def dpop_origin(self) -> str | None:
        """The fixed external origin proofs' ``htu`` is checked against (behind a proxy)."""
        return self._dpop_origin

    @property
    def dpop_checker(self) -> DPoPChecker:
        """The proof checker (replay store, nonces)."""
        return self._dpop

    # -- verification ------------------------------------------------------------------------

    def _parsed(self, token: str) -> ParsedToken:
        """``token``'s checked structure and header (size, JWS, algorithm, ``typ``).

        The one parse of a token not cached, for Bearer and DPoP-bound tokens alike.
        """
        parsed = parse_token(
            token,
            max_size=self._max_token_size,
            algorithms=self._algorithms,
            header_cache=self._headers,
        )
        if parsed.typ is not None or self._strict:
            check_typ(parsed.typ, strict=self._strict)
        return parsed

    def _bound_cached_or_parsed(self, token: str, now: float) -> AccessToken | ParsedToken:
        if self._dpop_mode == "disabled":
            raise InvalidTokenError(
                "DPoP is not accepted here; send 'Authorization: Bearer <token>'.",
                reason="dpop_disabled",
            )
        if type(token) is str:
            hit = self._bound.get(token, now, self._leeway, self._current_key)
            if hit is not None:
                self._hits += 1
                return hit
        return self._parsed(token)

    def _finish_bound(self, token: str, parsed: ParsedToken, entry: KeyEntry) -> AccessToken:
        if entry.alg is not None and entry.alg != parsed.alg:
            raise reject("alg_not_allowed")
        if not verify_signature(parsed, entry.key, entry.signature_size):
            raise reject("bad_signature")
        claims: dict[str, Any] = decode_payload(parsed)
        cnf = claims.pop("cnf", None)
        if type(cnf) is not dict or type(cnf.get("jkt")) is not str or len(cnf) != 1:
            raise _unbound()
        # Every Bearer check but the cnf one (check_claims refuses any cnf); the claims then
        # get their cnf back - the AccessToken's read-only view is of this very dict.
        result, exp, nbf = check_claims(claims, self._rules, self._clock())
        claims["cnf"] = cnf
        if result.claims.get("cnf") is not cnf:  # pragma: no cover - check_claims copied
            result = AccessToken.from_claims(claims)
        self._bound.put(token, (result, exp, nbf, parsed.kid, entry))
        self._accepted += 1
        return result

    def _bind(self, proof: DPoPProof, token: str, result: AccessToken) -> AccessToken:
        self._dpop.bind(proof, token, result.claims)
        return result

    def verify_dpop(self, token: str, proof: str | None, *, method: str, url: str) -> AccessToken:
        """Verify a DPoP-bound ``token`` and its ``proof`` for the request ``method url``.

        ``url`` is the request URL as the client addressed it (query and fragment are
        ignored).  Raises :class:`~okta_guard.errors.InvalidDPoPProofError`,
        :class:`~okta_guard.errors.DPoPNonceError`, ``InvalidTokenError``,
        ``ReplayStoreError`` (503) or ``IssuerUnavailableError``; nothing else.
        """
        try:
            now = self._clock()
            parsed = self._bound_cached_or_parsed(token, now)
            checked = self._dpop.check(proof, method, url, now)
            if isinstance(parsed, AccessToken):
                result = parsed
            else:
                entry = self._keys.fresh(parsed.kid, now) or self._keys.get_key(parsed.kid)
                result = self._finish_bound(token, parsed, entry)
            self._bind(checked, token, result)
            self._dpop.remember(checked)
            if self._introspect_all is not None:  # every verdict needs the server's answer
                return self._introspect_all.check(token, result)
            return result
        except Exception as exc:
            raise self._failed(exc) from None

    async def verify_dpop_async(
        self, token: str, proof: str | None, *, method: str, url: str
    ) -> AccessToken:
        """Like :meth:`verify_dpop`, without blocking the event loop on key fetches."""
        try:
            now = self._clock()
            parsed = self._bound_cached_or_parsed(token, now)
            checked = self._dpop.check(proof, method, url, now)
            if isinstance(parsed, AccessToken):
                result = parsed
            else:
                entry = self._keys.fresh(parsed.kid, now) or await self._keys.get_key_async(
                    parsed.kid
                )
                result = self._finish_bound(token, parsed, entry)
            self._bind(checked, token, result)
            await self._dpop.remember_async(checked)
            if self._introspect_all is not None:
                return await self._introspect_all.check_async(token, result)
            return result
        except Exception as exc:
            raise self._failed(exc) from None
