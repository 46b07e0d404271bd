"""The key-management methods of :class:`~okta_guard.testing.MockIssuer`: rotation,
scheduled rotation, the published key set and revocation."""

from __future__ import annotations

from typing import Any

from .authserver import AuthServer
from .state import OrgState

__all__ = ["KeyControls"]


class KeyControls:
    """Mixin over an :class:`~okta_guard.testing.state.OrgState` and a default server id."""

    _core: OrgState
    _default: str

    @property
    def _closed(self) -> bool:
        return self._core.closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this MockIssuer is closed; create a new one")

    def _server_state(self, server: str | None) -> AuthServer:
        return self._core.server(server or self._default)

    def rotate_keys(self, server: str | None = None, *, keep_previous: bool = True) -> str:
        """Rotate like Okta: NEXT becomes ACTIVE, a new NEXT is published, the old ACTIVE
        stays published as EXPIRED (dropped at once if ``keep_previous`` is false).
        Returns the new active ``kid``."""
        self._check_open()
        with self._core.lock:
            return self._server_state(server).keys.rotate(keep_previous=keep_previous).kid

    def schedule_rotation(self, in_seconds: float, server: str | None = None) -> None:
        """Rotate automatically ``in_seconds`` from now (on the mock's clock).

        Until then ``/v1/keys`` sends a ``max-age`` that ends at the rotation, as Okta
        shortens it near a rotation.
        """
        with self._core.lock:
            self._server_state(server).rotation_at = self._core.clock() + in_seconds

    def drop_expired_keys(self, server: str | None = None) -> None:
        """Stop publishing EXPIRED keys (tokens they signed stop verifying)."""
        with self._core.lock:
            self._server_state(server).keys.drop_expired()

    def active_kid(self, server: str | None = None) -> str:
        """The ``kid`` of the key signing new tokens."""
        return self._server_state(server).keys.active.kid

    def jwks(self, server: str | None = None) -> dict[str, Any]:
        """The key set ``/v1/keys`` serves right now."""
        ring = self._server_state(server).keys
        return {"keys": [k.public_jwk() for k in ring.published()]}

    def revoke(self, token: str, server: str | None = None) -> None:
        """Revoke ``token`` directly (introspection then reports it inactive)."""
        import jwt

        jti = jwt.decode(token, options={"verify_signature": False}).get("jti")
        if isinstance(jti, str):
            with self._core.lock:
                self._server_state(server).revoked.add(jti)
