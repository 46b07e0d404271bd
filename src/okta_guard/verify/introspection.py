"""What the verifier needs from token introspection (RFC 7662), free of any HTTP.

Local JWT validation cannot see a revoked token until it expires; Okta's
``/v1/introspect`` can.  This module defines the contract only:

* :class:`IntrospectionAnswer`: the parts of an introspection answer the
  verifier checks (``active``, ``scope``, ``client_id``, ``exp``, ``iss``), parsed
  strictly from the JSON object and serialisable for a shared store;
* :class:`Introspector`: the protocol a client implements (the concrete one,
  which authenticates to Okta, is :class:`okta_guard.call.introspection.IntrospectionClient`),
  and :class:`SealingIntrospector`, one that can seal its answers for a shared store;
* :func:`check_answer`: the decision for one verified token and one answer.

The cache, single flight and outage policy around an :class:`Introspector` live in
:mod:`okta_guard.verify.revocation`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from okta_guard._seal import Sealer
from okta_guard.errors import InvalidTokenError
from okta_guard.models import AccessToken
from okta_guard.verify.jws import parse_json_document

__all__ = ["IntrospectionAnswer", "Introspector", "SealingIntrospector", "check_answer"]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (e.g. 10**400)
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class IntrospectionAnswer:
    """The verifier-relevant facts of an introspection answer.

    ``scope``, ``client_id``, ``exp`` and ``iss`` are ``None`` when the answer did
    not carry them (an inactive token carries only ``active``).
    """

    active: bool
    scope: frozenset[str] | None = None
    client_id: str | None = None
    exp: float | None = None
    iss: str | None = None

    @classmethod
    def parse(cls, body: bytes) -> IntrospectionAnswer:
        """Parse the bytes of an introspection answer; raise ``ValueError`` if it is not one.

        The JSON is read as strictly as a token's: UTF-8, one object, no duplicate
        member (``{"active": false, "active": true}`` has no single meaning), no
        ``NaN``/``Infinity``, bounded nesting.
        """
        try:
            doc = parse_json_document(body)
        except InvalidTokenError:
            raise ValueError("the introspection answer is not one strict JSON object") from None
        return cls.from_json(doc)

    @classmethod
    def from_json(cls, data: object) -> IntrospectionAnswer:
        """Parse an introspection answer; raise ``ValueError`` if it is not one.

        ``active`` must be a JSON boolean; every other member, when present, must
        have its RFC 7662 type (a string, a finite number).
        """
        if not isinstance(data, Mapping):
            raise ValueError("the introspection answer is not a JSON object")
        active = data.get("active")
        if not isinstance(active, bool):
            raise ValueError("the introspection answer has no boolean 'active'")
        if not active:
            return cls(active=False)
        scope = data.get("scope")
        client_id = data.get("client_id")
        iss = data.get("iss")
        exp = data.get("exp")
        if scope is not None and not isinstance(scope, str):
            raise ValueError("'scope' is not a string")
        if client_id is not None and not isinstance(client_id, str):
            raise ValueError("'client_id' is not a string")
        if iss is not None and not isinstance(iss, str):
            raise ValueError("'iss' is not a string")
        number = _number(exp) if exp is not None else None
        if exp is not None and number is None:
            raise ValueError("'exp' is not a finite number")
        return cls(
            active=True,
            scope=frozenset(scope.split()) if scope is not None else None,
            client_id=client_id,
            exp=number,
            iss=iss,
        )

    def to_json(self) -> dict[str, Any]:
        """The RFC 7662 form of this answer (what :meth:`from_json` reads back)."""
        if not self.active:
            return {"active": False}
        doc: dict[str, Any] = {"active": True}
        if self.scope is not None:
            doc["scope"] = " ".join(sorted(self.scope))
        if self.client_id is not None:
            doc["client_id"] = self.client_id
        if self.exp is not None:
            doc["exp"] = self.exp
        if self.iss is not None:
            doc["iss"] = self.iss
        return doc

    def dumps(self) -> bytes:
        """Compact JSON bytes (for a store)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


@runtime_checkable
class Introspector(Protocol):
    """Asks the authorization server whether a token is active (RFC 7662).

    Implementations raise :class:`~okta_guard.errors.IssuerUnavailableError` when
    the server cannot answer (its ``retry_after`` honours ``Retry-After`` /
    ``X-Rate-Limit-Reset`` on a 429, and ``reason`` is ``"introspection_rate_limited"``
    then); any other exception is treated the same way (fail closed).
    """

    @property
    def issuer(self) -> str:
        """The authorization server asked."""
        ...

    def introspect(self, token: str) -> IntrospectionAnswer:
        """Introspect ``token`` (blocking)."""
        ...

    async def introspect_async(self, token: str) -> IntrospectionAnswer:
        """Introspect ``token`` without blocking the event loop."""
        ...


@runtime_checkable
class SealingIntrospector(Introspector, Protocol):
    """An :class:`Introspector` whose answers may be kept in a shared store.

    Its :attr:`answer_sealer` seals them there under a key from its own credentials
    (:class:`okta_guard.call.introspection.IntrospectionClient` is one), so that
    nobody who can merely write to the store can mark a revoked token active.
    """

    @property
    def answer_sealer(self) -> Sealer:
        """Seals and opens this issuer's answers (the same in every replica)."""
        ...


def _refuse(description: str, reason: str) -> InvalidTokenError:
    return InvalidTokenError(description, reason=reason)


def check_answer(answer: IntrospectionAnswer, token: AccessToken) -> AccessToken:
    """Return ``token`` if ``answer`` says it is active and agrees with it; else refuse.

    ``active: false`` is reason ``revoked``; an answer whose ``scope``, ``client_id``,
    ``exp`` or ``iss`` differs from the verified token is ``introspection_mismatch``
    (the answer is for another token, or something is badly wrong: fail closed).
    """
    if not answer.active:
        raise _refuse("The access token has been revoked.", "revoked")
    if (
        (answer.scope is not None and answer.scope != token.scopes)
        or (answer.client_id is not None and answer.client_id != token.client_id)
        or (answer.iss is not None and answer.iss != token.issuer)
        or (answer.exp is not None and int(answer.exp) != int(token.expires_at.timestamp()))
    ):
        raise _refuse(
            "The authorization server's answer does not match the access token.",
            "introspection_mismatch",
        )
    return token
