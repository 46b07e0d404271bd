"""``MockIssuer``: a local imitation of an Okta org with custom authorization servers.

One sans-IO core (:mod:`.core`) behind three shells: an httpx transport
(``okta.transport``), an ASGI app (``okta.app``) and a loopback HTTP(S) server
(``okta.start()`` or ``with MockIssuer() as okta:``).
"""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from .asgi import MockIssuerApp
from .authserver import AuthServer
from .clients import PublicKeyLike, RegisteredClient, load_public_keys
from .core import IssuerCore
from .cors import CorsPolicy
from .faults import FaultInjection
from .hooks import HookCallable, TokenHook
from .keycontrol import KeyControls
from .keys import SigningKey
from .records import MockRequest, MockResponse, RequestRecord
from .server import LoopbackServer
from .tls import LocalTLS, make_local_tls
from .transport import MockIssuerTransport

__all__ = ["IN_PROCESS_BASE_URL", "MockIssuer"]

IN_PROCESS_BASE_URL = "http://okta.localhost"
"""The org URL of a mock issuer that is not running a real server."""


class MockIssuer(FaultInjection, KeyControls):
    """A faithful local stand-in for an Okta org and its custom authorization servers.

    In-process by default (``okta.transport``, ``okta.app``); ``start()`` or a
    ``with`` block runs a real loopback server on a free port.  ``clock`` (epoch
    seconds, e.g. :class:`~okta_guard.testing.FakeClock`) drives ``iat``/``exp``,
    introspection, assertion expiry and rate-limit windows.  ``requests`` keeps the
    newest ``log_limit`` entries; :meth:`count` stays exact.

    The real server speaks https with ``ssl_context`` (a server context), or with
    ``tls=True``: a throw-away CA and certificate (needs ``trustme``) exposed as
    :attr:`ca_file` and :attr:`client_ssl_context`.

    ``cors_origins`` are the Trusted Origins browsers may call from (default
    ``None``: every loopback origin).  ``rate_limit`` sets per-minute limits
    (``/v1/token``, ``/v1/introspect`` and ``/v1/revoke`` have Okta's defaults
    anyway); one app may use ``app_rate_share`` of a bucket (Okta: 50 %).
    ``token_hook`` is a token inline hook: a callable, an http(s) URL or a
    :class:`~okta_guard.testing.TokenHook`.
    """

    _core: IssuerCore

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        auth_server: str = "default",
        audience: str = "api://default",
        scopes: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        tls: bool = False,
        jwks_max_age: int = 3_801_600,
        token_lifetime: int = 3600,
        keep_expired_keys: int = 1,
        rate_limit: int | Mapping[str, int] | None = None,
        app_rate_share: float = 0.5,
        log_limit: int | None = 100_000,
        cors_origins: Iterable[str] | None = None,
        token_hook: str | HookCallable | TokenHook | None = None,
    ) -> None:
        self._core = IssuerCore(
            base_url=IN_PROCESS_BASE_URL,
            clock=clock,
            jwks_max_age=jwks_max_age,
            token_lifetime=token_lifetime,
            log_limit=log_limit,
        )
        self._faults = self._core.faults
        self._core.cors = CorsPolicy(cors_origins)
        self._core.rate_limits.app_share = app_rate_share
        self._core.token_hook = TokenHook.of(token_hook)
        self._default = auth_server
        self._keep_expired = keep_expired_keys
        self._tls: LocalTLS | None = None
        if tls and ssl_context is None:
            self._tls = make_local_tls(host)
            weakref.finalize(self, self._tls.cleanup)
            ssl_context = self._tls.server_context
        self._host, self._port, self._ssl = host, port, ssl_context
        self._server: LoopbackServer | None = None
        # an issuer dropped without close() still returns its keys to the pool
        self._release_keys = weakref.finalize(self, _release_keys, self._core.servers)
        self._core.add_server(auth_server, audience, scopes, keep_expired_keys)
        if isinstance(rate_limit, int):
            self.set_rate_limit(rate_limit)
        elif rate_limit is not None:
            for endpoint, limit in rate_limit.items():
                self.set_rate_limit(limit, endpoint)
        # the shells hold the core, not this object, so an unclosed issuer can be freed
        core = self._core
        self.transport = MockIssuerTransport(core.handle, closed=lambda: core.closed)
        """httpx transport serving this mock in-process (sync and async clients)."""
        self.app = MockIssuerApp(self._core.handle)
        """ASGI application serving this mock."""

    # -- URLs --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The org URL: ``http://okta.localhost`` in-process, the server's URL once started."""
        return self._core.base_url

    @property
    def issuer(self) -> str:
        """Issuer URL of the default authorization server."""
        return self._core.issuer(self._default)

    def issuer_for(self, server: str) -> str:
        """Issuer URL of authorization server ``server``."""
        return self._core.issuer(server)

    @property
    def audience(self) -> str:
        """Audience of the default authorization server (``api://default``)."""
        return self._core.server(self._default).audience

    @property
    def jwks_uri(self) -> str:
        """``{issuer}/v1/keys`` of the default server."""
        return f"{self.issuer}/v1/keys"

    @property
    def token_url(self) -> str:
        """``{issuer}/v1/token`` of the default server."""
        return f"{self.issuer}/v1/token"

    @property
    def introspection_url(self) -> str:
        """``{issuer}/v1/introspect`` of the default server."""
        return f"{self.issuer}/v1/introspect"

    @property
    def revocation_url(self) -> str:
        """``{issuer}/v1/revoke`` of the default server."""
        return f"{self.issuer}/v1/revoke"

    @property
    def metadata_url(self) -> str:
        """``{issuer}/.well-known/oauth-authorization-server`` of the default server."""
        return f"{self.issuer}/.well-known/oauth-authorization-server"

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the mock uses (epoch seconds)."""
        return self._core.clock

    # -- configuration -----------------------------------------------------------------

    def add_auth_server(
        self, server: str, *, audience: str | None = None, scopes: Iterable[str] = ()
    ) -> str:
        """Add custom authorization server ``server`` (audience ``api://{server}``); return
        its issuer URL."""
        self._core.add_server(server, audience or f"api://{server}", scopes, self._keep_expired)
        return self.issuer_for(server)

    def register_client(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        scopes: Iterable[str] = (),
        public_key: PublicKeyLike = None,
        auth_methods: Iterable[str] | None = None,
        dpop: bool = False,
    ) -> RegisteredClient:
        """Register a client-credentials client (an Okta service app).

        ``scopes`` are the scopes its policy grants (and become known to every
        server).  ``public_key`` (cryptography key, PEM, JWK or JWKS) enables
        ``private_key_jwt``; a secret enables ``client_secret_basic``/``_post``
        (and ``client_secret_jwt`` when at least 32 characters long).  ``dpop``
        makes the token endpoint demand DPoP proofs (with Okta's nonce dance) and
        issue ``token_type: DPoP`` tokens bound by ``cnf.jkt``.
        """
        keys = load_public_keys(public_key)
        wants_jwt = auth_methods is not None and "client_secret_jwt" in auth_methods
        if wants_jwt and (client_secret is None or len(client_secret) < 32):
            raise ValueError(
                "client_secret_jwt needs a client secret of at least 32 characters, as Okta"
            )
        methods = (
            frozenset(auth_methods)
            if auth_methods is not None
            else RegisteredClient.default_methods(client_secret, bool(keys))
        )
        client = RegisteredClient(
            client_id, client_secret, frozenset(scopes), keys, methods, dpop=dpop
        )
        with self._core.lock:
            self._core.auth.clients[client_id] = client
        return client

    @property
    def jwks_max_age(self) -> int:
        """``max-age`` (seconds) of the ``/v1/keys`` ``Cache-Control`` header."""
        return self._core.jwks_max_age

    @jwks_max_age.setter
    def jwks_max_age(self, value: int) -> None:
        self._core.jwks_max_age = int(value)

    def set_rate_limit(self, per_minute: int | None, endpoint: str = "*") -> None:
        """Limit ``endpoint`` (default: each endpoint) to ``per_minute`` requests per minute,
        per authorization server, like Okta; ``None`` goes back to the default (Okta's
        limit on token, introspect and revoke; none on keys and discovery)."""
        self._core.rate_limits.set_limit(endpoint, per_minute)

    @property
    def token_hook(self) -> TokenHook | None:
        """The token inline hook, if any (set a callable, a URL, a TokenHook or ``None``)."""
        return self._core.token_hook

    @token_hook.setter
    def token_hook(self, value: str | HookCallable | TokenHook | None) -> None:
        self._core.token_hook = TokenHook.of(value)

    # -- tokens ------------------------------------------------------------------------

    def mint_token(
        self,
        scopes: Iterable[str] = (),
        client_id: str = "mock-client",
        expires_in: float = 3600,
        audience: str | list[str] | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
        subject: str | None = None,
        issued_at: float | None = None,
        key: SigningKey | str | None = None,
    ) -> str:
        """Mint an access token exactly like the authorization server would.

        ``claims`` and ``headers`` are merged over the defaults (use
        :data:`~okta_guard.testing.OMIT` to drop one); the signature is always
        RS256.  ``key`` picks the signer: ``None``/``"active"``, ``"next"``, a
        ``kid`` the server ever held, or any :class:`SigningKey` (e.g. from
        :func:`~okta_guard.testing.generate_signing_key`).  A negative
        ``expires_in`` gives an already expired token.
        """
        self._check_open()
        return self._core.mint(
            server or self._default,
            scopes=scopes,
            client_id=client_id,
            expires_in=expires_in,
            audience=audience,
            claims=claims,
            headers=headers,
            subject=subject,
            issued_at=issued_at,
            key=key,
        )

    # -- faults and the log ------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far, oldest first (a copy; the newest ``log_limit``)."""
        with self._core.lock:
            return list(self._core.log)

    def count(self, endpoint: str, server: str | None = None) -> int:
        """How many requests ``endpoint`` (e.g. ``"keys"``) received (on ``server``) since
        the start or :meth:`clear_requests` — exact even beyond the log's limit."""
        with self._core.lock:
            return sum(
                n
                for (name, server_id), n in self._core.counts.items()
                if name == endpoint and (server is None or server_id == server)
            )

    @property
    def keys_fetches(self) -> int:
        """How many times ``/v1/keys`` was requested (any server)."""
        return self.count("keys")

    def clear_requests(self) -> None:
        """Forget the request log and reset the counts."""
        with self._core.lock:
            self._core.log.clear()
            self._core.counts.clear()

    # -- serving -----------------------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        """Serve one request (the sans-IO entry point every shell uses)."""
        self._check_open()
        return self._core.handle(request)

    def http_client(self, **kwargs: Any) -> httpx.Client:
        """An :class:`httpx.Client` on the in-process transport, based at the org URL."""
        kwargs.setdefault("base_url", self.base_url)
        return httpx.Client(transport=self.transport, **kwargs)

    def async_http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An :class:`httpx.AsyncClient` on the in-process transport."""
        kwargs.setdefault("base_url", self.base_url)
        return httpx.AsyncClient(transport=self.transport, **kwargs)

    @property
    def ca_file(self) -> str | None:
        """With ``tls=True``: path of the PEM file of the CA that signed the server's cert."""
        return self._tls.ca_file if self._tls else None

    @property
    def client_ssl_context(self) -> ssl.SSLContext | None:
        """With ``tls=True``: an ``ssl.SSLContext`` trusting the server (``httpx verify=``)."""
        return self._tls.client_context if self._tls else None

    @property
    def running(self) -> bool:
        """Whether the loopback server is running."""
        return self._server is not None

    @property
    def port(self) -> int | None:
        """The loopback server's port, once started."""
        return self._server.port if self._server else None

    def start(self) -> MockIssuer:
        """Run a real HTTP(S) server on ``host:port`` (port 0: a free one) in a thread.

        The issuer becomes ``http(s)://{host}:{port}/oauth2/{id}``; returns ``self``.
        """
        self._check_open()
        if self._server is None:
            self._server = LoopbackServer(
                self.handle, host=self._host, port=self._port, ssl_context=self._ssl
            )
            self._core.base_url = self._server.base_url
        return self

    def stop(self) -> None:
        """Stop the loopback server (the issuer URL keeps its last value)."""
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()

    def close(self) -> None:
        """Stop serving and give the signing keys back to the pool; the mock is done."""
        self.stop()
        if not self._closed:
            self._core.closed = True
            with self._core.lock:
                self._release_keys()
            if self._tls is not None:
                self._tls.cleanup()  # also done by a finalizer if never closed

    def __enter__(self) -> MockIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._closed else "in-process")
        return f"MockIssuer({self.issuer!r}, {state})"


def _release_keys(servers: dict[str, AuthServer]) -> None:
    for auth_server in servers.values():
        auth_server.keys.release()
