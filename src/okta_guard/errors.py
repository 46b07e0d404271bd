"""The error hierarchy of okta-guard and its mapping onto RFC 6750 answers.

Every error a request can cause is an :class:`OktaGuardError` with an HTTP
``status_code``, an RFC 6750 ``error`` code and a short ``description`` that is
safe to send to a client.  The precise cause (``reason``) is a stable, short
machine-readable string meant for logs and metrics; it never contains a token,
a secret or attacker-controlled text.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConfigurationError",
    "DPoPNonceError",
    "InsufficientScopeError",
    "InvalidDPoPProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "IssuerUnavailableError",
    "OktaGuardError",
    "ReplayStoreError",
    "TokenRequestError",
]


class OktaGuardError(Exception):
    """Base class of every okta-guard error.

    Attributes:
        status_code: the HTTP status a server should answer with.
        error: the RFC 6750 / RFC 6749 error code (``invalid_token`` ...).
        description: a short human-readable text, safe to show to a client.
        reason: a stable machine-readable cause for logs and metrics
            (``"expired"``, ``"bad_signature"`` ...); never sent to clients.
    """

    status_code: int = 500
    error: str = "server_error"
    default_description: str = "The request could not be processed."

    def __init__(self, description: str | None = None, *, reason: str | None = None) -> None:
        self.description = description or self.default_description
        self.reason = reason or self.error
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r}, reason={self.reason!r})"


class InvalidRequestError(OktaGuardError):
    """400 ``invalid_request``: the request carries credentials in a malformed way."""

    status_code = 400
    error = "invalid_request"
    default_description = "The request is malformed."


class InvalidTokenError(OktaGuardError):
    """401 ``invalid_token``: the access token is expired, forged, malformed or not for us."""

    status_code = 401
    error = "invalid_token"
    default_description = "The access token is invalid."


class InvalidDPoPProofError(InvalidTokenError):
    """401 ``invalid_dpop_proof``: the ``DPoP`` proof is missing, malformed, replayed, for
    another request or not made with the key the access token is bound to (RFC 9449 §7.1)."""

    error = "invalid_dpop_proof"
    default_description = "The DPoP proof is invalid."


class DPoPNonceError(InvalidDPoPProofError):
    """401 ``use_dpop_nonce``: the proof must carry the server nonce in ``nonce``
    (RFC 9449 §9); ``nonce`` goes into the answer's ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    default_description = "The resource server requires a nonce in the DPoP proof."

    def __init__(
        self, nonce: str, description: str | None = None, *, reason: str | None = None
    ) -> None:
        self.nonce = nonce
        super().__init__(description, reason=reason or "dpop_nonce_required")


class ReplayStoreError(OktaGuardError):
    """503: the DPoP replay store (the record of proof ``jti`` values) failed.

    Fails closed: without it a replayed proof could not be recognised.
    ``retry_after`` is a hint in seconds for the ``Retry-After`` header.
    """

    status_code = 503
    error = "temporarily_unavailable"
    default_description = "The service cannot check DPoP proofs right now; try again later."

    def __init__(
        self,
        description: str | None = None,
        *,
        retry_after: float = 5.0,
        reason: str | None = None,
    ) -> None:
        self.retry_after = max(1.0, float(retry_after))
        super().__init__(description, reason=reason or "replay_store_unavailable")


class InsufficientScopeError(OktaGuardError):
    """403 ``insufficient_scope``: the token is valid but lacks a required scope.

    ``required_scopes`` lists the scopes the route asks for (all of them, or any
    one of them when ``any_of`` is true).
    """

    status_code = 403
    error = "insufficient_scope"
    default_description = "The access token does not grant the required scope."

    def __init__(
        self,
        required_scopes: Iterable[str],
        description: str | None = None,
        *,
        any_of: bool = False,
        reason: str | None = None,
    ) -> None:
        self.required_scopes: tuple[str, ...] = tuple(required_scopes)
        self.any_of = any_of
        if description is None:
            joined = " ".join(self.required_scopes)
            kind = "one of the scopes" if any_of else "the scope(s)"
            description = f"This resource requires {kind}: {joined}."
        super().__init__(description, reason=reason or "insufficient_scope")


class IssuerUnavailableError(OktaGuardError):
    """503: no usable signing key is cached and the issuer cannot be reached.

    ``retry_after`` is a hint in seconds for the ``Retry-After`` header.  ``diagnosis``,
    when set, says what the issuer's answer shows is wrong in the configuration (a 404
    naming the URL, an empty key set): for logs and the CLI, never sent to clients.
    """

    status_code = 503
    error = "temporarily_unavailable"
    default_description = "The authorization server cannot be reached; try again later."

    def __init__(
        self,
        description: str | None = None,
        *,
        retry_after: float = 30.0,
        reason: str | None = None,
        diagnosis: str | None = None,
    ) -> None:
        self.retry_after = max(1.0, float(retry_after))
        self.diagnosis = diagnosis
        super().__init__(description, reason=reason or "issuer_unavailable")


class TokenRequestError(OktaGuardError):
    """A service-token request to the issuer's token endpoint failed.

    ``error`` is Okta's OAuth error code (``invalid_client``, ``invalid_scope`` ...)
    and ``description`` says what went wrong and how to fix it.  ``retryable``
    tells whether trying again later can help.
    """

    status_code = 502
    error = "token_request_failed"
    default_description = "The token request to the authorization server failed."

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
        reason: str | None = None,
    ) -> None:
        if error is not None:
            self.error = error
        if status_code is not None:
            self.status_code = status_code
        self.retryable = retryable
        super().__init__(description, reason=reason or self.error)


class ConfigurationError(OktaGuardError, ValueError):
    """The library was configured wrongly; the message says what to fix.

    Raised at construction time (never per request), so a misconfigured service
    fails at start-up instead of answering 401 to everyone.
    """

    status_code = 500
    error = "configuration_error"
    default_description = "okta-guard is misconfigured."
