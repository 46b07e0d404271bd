"""The ``Verifier`` protocol: all that the protect room needs of a verifier.

:class:`~okta_guard.TokenVerifier` fits it, and so does any object with an
``issuer``, ``verify_async`` and ``prewarm_async``.  A verifier may also offer
``verify_cached(token: str | bytes) -> AccessToken | None`` (see :class:`CachingVerifier`):
the middleware then answers a token seen before without a coroutine.  Nothing in
``okta_guard.protect`` imports a concrete verifier.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from okta_guard.models import AccessToken

__all__ = ["CachingVerifier", "Verifier"]


@runtime_checkable
class Verifier(Protocol):
    """What the web integrations need from a verifier (``TokenVerifier`` fits)."""

    @property
    def issuer(self) -> str:
        """The issuer URL (custom authorization server)."""
        ...

    async def verify_async(self, token: str) -> AccessToken:
        """Verify ``token``; raise an ``OktaGuardError`` subclass when it is not acceptable."""
        ...

    async def prewarm_async(self) -> object:
        """Fetch discovery metadata and keys ahead of the first request."""
        ...


class CachingVerifier(Verifier, Protocol):
    """A :class:`Verifier` that can also answer a token it accepted before, synchronously."""

    def verify_cached(self, token: str | bytes) -> AccessToken | None:
        """The token's :class:`AccessToken` if an earlier verdict still holds, else ``None``.

        Never raises and does no I/O; ``None`` means "call ``verify_async``".  The
        middleware passes the ``Authorization`` header value as received
        (``b"Bearer <token>"``); a bare token (``str`` or ``bytes``) must work too.
        """
        ...
