"""The ``DPoP`` scheme at the web integrations (RFC 9449 §7): headers, ``htu``, challenges.

Shared by the middleware, :func:`~okta_guard.require_scopes` and the FastAPI dependency.
A verifier supports DPoP when it has ``verify_dpop_async`` and a ``dpop_mode`` other
than ``"disabled"`` (:class:`~okta_guard.TokenVerifier` does); the rest of ``protect``
knows it only through :class:`DPoPSupport`.  Only requests whose ``Authorization``
scheme is ``DPoP`` ever come here, so the Bearer path costs nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from starlette.types import Scope

from okta_guard.errors import InvalidDPoPProofError, InvalidRequestError, OktaGuardError
from okta_guard.models import AccessToken

__all__ = [
    "DPoPChallenge",
    "DPoPSupport",
    "DPoPVerifier",
    "authenticate_dpop",
    "dpop_challenge",
    "dpop_support",
    "dpop_token",
    "is_dpop_scheme",
    "request_htu",
]

# token68 (RFC 9110 §11.2), the alphabet of both the DPoP credentials and the proof.
_TOKEN68 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@runtime_checkable
class DPoPVerifier(Protocol):
    """What the web integrations need from a verifier to accept DPoP-bound tokens."""

    @property
    def dpop_mode(self) -> str:
        """``"allowed"``, ``"required"`` or ``"disabled"``."""
        ...

    @property
    def dpop_algorithms(self) -> tuple[str, ...]:
        """The accepted proof algorithms."""
        ...

    @property
    def dpop_origin(self) -> str | None:
        """A fixed external origin for ``htu``, or ``None`` to use the request's."""
        ...

    async def verify_dpop_async(
        self, token: str, proof: str | None, *, method: str, url: str
    ) -> AccessToken:
        """Verify a DPoP-bound token and its proof for ``method url``."""
        ...


@dataclass(frozen=True)
class DPoPChallenge:
    """What a challenge must say about DPoP: the mode, the algorithms, the scheme used."""

    required: bool
    algorithms: tuple[str, ...]
    used: bool = False


@dataclass(frozen=True)
class DPoPSupport:
    """A verifier's DPoP settings, read once."""

    required: bool
    algorithms: tuple[str, ...]
    origin: str | None
    verify: Callable[..., Awaitable[AccessToken]]

    def challenge(self, used: bool) -> DPoPChallenge:
        """The challenge settings for a request that used (or not) the DPoP scheme."""
        return DPoPChallenge(self.required, self.algorithms, used)


def dpop_support(verifier: object) -> DPoPSupport | None:
    """The verifier's DPoP support, or ``None`` if it has none or has it disabled."""
    verify = getattr(verifier, "verify_dpop_async", None)
    mode = getattr(verifier, "dpop_mode", "disabled")
    if not callable(verify) or mode not in ("allowed", "required"):
        return None
    algorithms = tuple(getattr(verifier, "dpop_algorithms", ()) or ())
    origin = getattr(verifier, "dpop_origin", None)
    return DPoPSupport(
        mode == "required", algorithms, origin if isinstance(origin, str) else None, verify
    )


def is_dpop_scheme(authorization: bytes | None) -> bool:
    """Whether the ``Authorization`` value uses the ``DPoP`` scheme (case-insensitive)."""
    return authorization is not None and authorization[:5].lower() == b"dpop "


def dpop_token(authorization: bytes) -> str:
    """The access token of ``Authorization: DPoP <token>`` (400 if malformed)."""
    token = authorization[5:].lstrip(b" ")
    core = token.rstrip(b"=")
    # translate(None, allowed) deletes every allowed byte: empty means all allowed
    if not core or core.translate(None, _TOKEN68):
        raise InvalidRequestError(
            "The Authorization header is malformed; send 'Authorization: DPoP <access token>'.",
            reason="malformed_authorization",
        )
    return token.decode("ascii")


def dpop_proof(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The single ``DPoP`` header: 401 if absent, 400 if repeated or malformed."""
    found: bytes | None = None
    for name, value in headers:
        if name == b"dpop":
            if found is not None:
                raise InvalidRequestError(
                    "The request has more than one DPoP header; send exactly one proof.",
                    reason="duplicate_dpop",
                )
            found = value
    if found is None:
        raise InvalidDPoPProofError(
            "The request has no DPoP proof; send one in the DPoP header.", reason="dpop_missing"
        )
    proof = found.strip(b" \t")
    if not proof or proof.translate(None, _TOKEN68) or proof.count(b".") != 2:
        raise InvalidRequestError(
            "The DPoP header is malformed; send one DPoP proof JWT.", reason="malformed_dpop"
        )
    return proof.decode("ascii")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def request_htu(scope: Scope, origin: str | None = None) -> str:
    """The URL the client addressed, without query: origin + ``root_path`` + path.

    The origin is ``origin`` when given (behind a proxy), else the request's scheme and
    ``Host`` header (or the server address).  A path that already starts with
    ``root_path`` (as servers now send it) is not prefixed twice.
    """
    path: str = scope.get("path", "/") or "/"
    root_path: str = scope.get("root_path", "")
    if root_path and not path.startswith(root_path):
        path = root_path.rstrip("/") + path
    if origin is None:
        raw_scheme: str = scope.get("scheme", "http")
        scheme = {"ws": "http", "wss": "https"}.get(raw_scheme, raw_scheme)
        host = _header(scope, b"host")
        if not host:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        origin = f"{scheme}://{host}"
    return origin + quote(path, safe=_PATH_SAFE)


async def authenticate_dpop(
    scope: Scope, support: DPoPSupport, authorization: bytes
) -> AccessToken:
    """Verify ``Authorization: DPoP <token>`` and its single ``DPoP`` proof for this request."""
    token = dpop_token(authorization)
    proof = dpop_proof(scope["headers"])
    method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
    return await support.verify(token, proof, method=method, url=request_htu(scope, support.origin))


def dpop_challenge(
    support: DPoPSupport | None, authorization: bytes | None, exc: OktaGuardError | None
) -> DPoPChallenge | None:
    """The DPoP part of the challenge for a refused request (``None`` without DPoP)."""
    if support is None:
        return None
    used = is_dpop_scheme(authorization) or isinstance(exc, InvalidDPoPProofError)
    return support.challenge(used)
