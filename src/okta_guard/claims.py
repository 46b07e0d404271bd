"""Claim checks of a signature-verified access token (pure functions).

:class:`ClaimRules` holds what the verifier was configured with;
:func:`check_claims` applies every rule at time ``now`` and raises
:class:`~okta_guard.errors.InvalidTokenError` with a stable ``reason``.  It is
only ever called after the signature has been verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .jws import reject

__all__ = ["MAX_TIMESTAMP", "ClaimRules", "check_claims", "check_typ", "timestamp"]

#: Largest accepted NumericDate (9999-12-31T23:59:59Z).
MAX_TIMESTAMP = 253402300799

_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_LENIENT_TYPES = _ACCESS_TOKEN_TYPES | {"jwt"}
# Claims that only ID tokens or DPoP proofs carry: such a JWT is not an access token.
_FOREIGN_CLAIMS = ("nonce", "at_hash", "c_hash", "htm", "htu", "ath")
_RFC9068_REQUIRED = ("jti", "sub", "iat", "client_id")


@dataclass(frozen=True)
class ClaimRules:
    """The configured expectations for claims."""

    issuer: str
    audiences: frozenset[str]
    leeway: float = 60.0
    client_ids: frozenset[str] | None = None
    required_claims: tuple[str, ...] = ()
    max_token_lifetime: float | None = None
    strict_rfc9068: bool = False


def timestamp(claims: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    """Read a NumericDate claim: a finite, non-negative int or float (never a bool)."""
    value = claims.get(name)
    if value is None:
        if required or name in claims:
            raise reject("missing_claim" if name not in claims else "bad_claim")
        return None
    if type(value) not in (int, float) or not 0 <= value <= MAX_TIMESTAMP:
        raise reject("bad_claim")
    return float(value)


def check_typ(typ: str | None, *, strict: bool) -> None:
    """Accept only access-token ``typ``: ``at+jwt`` (also absent or ``JWT`` unless strict)."""
    if typ is None:
        if strict:
            raise reject("wrong_token_type")
        return
    allowed = _ACCESS_TOKEN_TYPES if strict else _LENIENT_TYPES
    if typ.lower() not in allowed:
        raise reject("wrong_token_type")


def _check_audience(aud: object, audiences: frozenset[str]) -> None:
    if isinstance(aud, str):
        if aud in audiences:
            return
    elif (
        isinstance(aud, list)
        and aud
        and all(isinstance(item, str) for item in aud)
        and not audiences.isdisjoint(aud)
    ):
        return
    raise reject("wrong_audience")


def _check_shapes(claims: Mapping[str, Any]) -> None:
    scp = claims.get("scp")
    if scp is not None and not (
        isinstance(scp, list) and all(isinstance(item, str) for item in scp)
    ):
        raise reject("bad_claim")
    for name in ("scope", "sub", "cid", "client_id", "jti"):
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise reject("bad_claim")


def check_claims(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> tuple[float, float]:
    """Apply every claim rule; return ``(exp, nbf)`` (``nbf`` is ``-inf`` when absent)."""
    if claims.get("iss") != rules.issuer:
        raise reject("wrong_issuer")
    _check_audience(claims.get("aud"), rules.audiences)
    exp = timestamp(claims, "exp", required=True)
    assert exp is not None
    nbf = timestamp(claims, "nbf")
    iat = timestamp(claims, "iat", required=rules.strict_rfc9068)
    leeway = rules.leeway
    if now - leeway >= exp:
        raise reject("expired")
    if nbf is not None and now + leeway < nbf:
        raise reject("not_yet_valid")
    if iat is not None and now + leeway < iat:
        raise reject("issued_in_future")
    if "cnf" in claims:
        raise reject("dpop_bound")
    for name in _FOREIGN_CLAIMS:
        if name in claims:
            raise reject("not_access_token")
    jti = claims.get("jti")
    if isinstance(jti, str) and jti.startswith("ID."):
        raise reject("not_access_token")
    _check_shapes(claims)
    if rules.client_ids is not None:
        cid = claims.get("cid", claims.get("client_id"))
        if not isinstance(cid, str) or cid not in rules.client_ids:
            raise reject("client_id_not_allowed")
    if rules.max_token_lifetime is not None:
        start = iat if iat is not None else now
        if exp - start > rules.max_token_lifetime:
            raise reject("lifetime_too_long")
    if rules.strict_rfc9068:
        for name in _RFC9068_REQUIRED:
            if claims.get(name) is None:
                raise reject("missing_claim")
    for name in rules.required_claims:
        if claims.get(name) is None:
            raise reject("missing_claim")
    return exp, (nbf if nbf is not None else float("-inf"))
