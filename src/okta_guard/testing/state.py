"""The state of a mock Okta org: its authorization servers, clients, keys and clock.

:class:`OrgState` is plain state plus the operations on it (add a server, mint a
token).  The endpoints (:mod:`.endpoints`) read and change it; the request
handler (:mod:`.core`) builds on it.  It imports neither, so data flows one way:
``core -> endpoints -> state``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .authserver import AuthServer
from .clients import ClientAuthenticator
from .dpop import DPoPValidator
from .hooks import TokenHook
from .keys import KeyRing, SigningKey
from .tokens import build_claims, sign_compact

__all__ = ["OrgState"]


class OrgState:
    """Everything a mock Okta org knows, guarded by one re-entrant lock."""

    def __init__(
        self,
        *,
        base_url: str,
        clock: Callable[[], float] | None = None,
        jwks_max_age: int = 3_801_600,
        token_lifetime: int = 3600,
    ) -> None:
        self.base_url = base_url
        self.clock: Callable[[], float] = clock or time.time
        self.jwks_max_age = jwks_max_age
        self.token_lifetime = token_lifetime
        self.servers: dict[str, AuthServer] = {}
        self.auth = ClientAuthenticator()
        self.dpop = DPoPValidator()
        self.token_hook: TokenHook | None = None
        self.lock = threading.RLock()
        self.closed = False

    def add_server(
        self, server_id: str, audience: str, scopes: Iterable[str] = (), keep_expired: int = 1
    ) -> AuthServer:
        """Create authorization server ``server_id`` (its keys are leased now)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", server_id):
            raise ValueError(f"invalid authorization server id {server_id!r}")
        with self.lock:
            if server_id in self.servers:
                raise ValueError(f"authorization server {server_id!r} already exists")
            server = AuthServer(server_id, audience, KeyRing(keep_expired=keep_expired))
            server.scopes.update(scopes)
            self.servers[server_id] = server
            return server

    def server(self, server_id: str) -> AuthServer:
        """The authorization server ``server_id`` (``KeyError`` with a hint if unknown)."""
        try:
            return self.servers[server_id]
        except KeyError:
            known = ", ".join(sorted(self.servers))
            raise KeyError(f"no authorization server {server_id!r} (known: {known})") from None

    def issuer(self, server_id: str) -> str:
        """The issuer URL of ``server_id``."""
        return self.server(server_id).issuer(self.base_url)

    def known_scopes(self, server: AuthServer) -> set[str]:
        """Scopes defined on ``server``: its own plus those granted to registered clients."""
        scopes = set(server.scopes)
        for client in self.auth.clients.values():
            scopes.update(client.scopes)
        return scopes

    def defines_scope(self, server: AuthServer, scope: str) -> bool:
        """Whether ``scope`` is one of :meth:`known_scopes` (without building the set)."""
        return scope in server.scopes or any(
            scope in client.scopes for client in self.auth.clients.values()
        )

    def claims_for(
        self,
        server_id: str,
        *,
        scopes: Iterable[str],
        client_id: str,
        expires_in: float,
        audience: str | list[str] | None,
        claims: Mapping[str, Any] | None,
        subject: str | None = None,
        issued_at: float | None = None,
    ) -> dict[str, Any]:
        """The claims of a new access token of ``server_id`` (see ``MockIssuer.mint_token``)."""
        with self.lock:
            server = self.server(server_id)
            server.apply_due_rotation(self.clock())
            return build_claims(
                issuer=server.issuer(self.base_url),
                audience=server.audience if audience is None else audience,
                client_id=client_id,
                scopes=scopes,
                now=self.clock() if issued_at is None else issued_at,
                expires_in=expires_in,
                subject=subject,
                extra=claims,
            )

    def sign(
        self,
        server_id: str,
        claims: Mapping[str, Any],
        headers: Mapping[str, Any] | None = None,
        key: SigningKey | str | None = None,
    ) -> str:
        """Sign ``claims`` with ``key`` (``None``/``"active"``, ``"next"``, a kid, a key)."""
        with self.lock:
            server = self.server(server_id)
            if isinstance(key, SigningKey):
                signer = key
            elif key is None or key == "active":
                signer = server.keys.active
            elif key == "next":
                signer = server.keys.next
            else:
                found = server.keys.get(key)
                if found is None:
                    raise KeyError(f"no key with kid {key!r} on server {server_id!r}")
                signer = found
            return sign_compact(signer, claims, headers)

    def mint(
        self,
        server_id: str,
        *,
        scopes: Iterable[str],
        client_id: str,
        expires_in: float,
        audience: str | list[str] | None,
        claims: Mapping[str, Any] | None,
        headers: Mapping[str, Any] | None,
        subject: str | None = None,
        issued_at: float | None = None,
        key: SigningKey | str | None = None,
    ) -> str:
        """Sign an access token of ``server_id`` (see ``MockIssuer.mint_token``)."""
        body = self.claims_for(
            server_id,
            scopes=scopes,
            client_id=client_id,
            expires_in=expires_in,
            audience=audience,
            claims=claims,
            subject=subject,
            issued_at=issued_at,
        )
        return self.sign(server_id, body, headers, key)
