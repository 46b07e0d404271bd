"""TokenClient: client-credentials service tokens from an Okta custom authorization server.

This module is the public face: the options, their checks, and the parts put together.
The decisions (freshness, retries) live in :mod:`okta_guard.call.policy` and
:mod:`okta_guard.call.token_response`; the thread/task-safe cache in
:mod:`okta_guard.call.token_cache`, driven for this client (who fetches, who waits,
within the client's total ``deadline``) by :mod:`okta_guard.call.client_tokens`; the
token requests themselves (client authentication, DPoP proofs, per-attempt timeout,
the fleet's store) by :mod:`okta_guard.call.token_fetch`.

    client = TokenClient("https://dev-123.okta.com/oauth2/default", "0oa...", secret,
                         scopes=["orders:read"])
    token = client.get_token()                 # or: await client.get_token_async()
    httpx.get(url, auth=client.auth)           # Authorization: Bearer ... (or DPoP + proof)

DPoP (RFC 9449) lives in :mod:`okta_guard.call.dpop`: with ``dpop=None`` (the default) a
client switches to DPoP when Okta demands proofs, and then sends them for good.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from okta_guard._http import HttpClients
from okta_guard.call.auth_methods import PrivateKeyInput, client_authentication
from okta_guard.call.client_tokens import ClientTokens, cache_key_of
from okta_guard.call.config import (
    check_client_id,
    checked_endpoint_url,
    client_arguments_from_env,
    normalize_extra_params,
    normalize_scopes,
)
from okta_guard.call.dpop import DPoPKey, DPoPSession
from okta_guard.call.httpx_auth import TokenAuth
from okta_guard.call.policy import AuthMethod, CacheKey, RetrySettings
from okta_guard.call.shared_cache import build_shared
from okta_guard.call.shared_policy import StoreSettings
from okta_guard.call.token_cache import TokenCache
from okta_guard.call.token_fetch import TokenFetcher
from okta_guard.errors import ConfigurationError
from okta_guard.models import ServiceToken
from okta_guard.settings import issuer_from_domain, validate_issuer
from okta_guard.store import Store
from okta_guard.verify.options import positive_seconds

__all__ = ["MAX_TOKEN_RESPONSE_BYTES", "RetrySettings", "TokenCache", "TokenClient"]


#: Largest token endpoint answer read, in bytes (decoded); Okta's are a few KiB.
MAX_TOKEN_RESPONSE_BYTES = 256 * 1024


class TokenClient:
    """Gets, caches and refreshes client-credentials service tokens.

    Args:
        issuer: the custom authorization server, ``https://{domain}/oauth2/{id}``.
        client_id, client_secret: the API Services app's credentials.
        scopes: custom scopes to request (at least one; no ``openid``).
        private_key: RSA/EC private key (PEM, JWK dict/JSON or key object) for
            ``private_key_jwt``; given alone (no secret) it selects that method.
        auth_method: ``client_secret_basic`` (default), ``client_secret_post``,
            ``private_key_jwt`` or ``client_secret_jwt``.
        clock: epoch seconds, e.g. a :class:`~okta_guard.testing.FakeClock`.
        http_client / async_http_client: httpx clients for the token requests
            (created and owned by the client when omitted).
        key_id: ``kid`` of the private key (else taken from the JWK, if any).
        audience, extra_params: additional token request form parameters.
        token_url: override ``{issuer}/v1/token``.
        refresh_margin, refresh_fraction: refresh ``min(margin, fraction * lifetime)``
            seconds before expiry.
        retry: :class:`RetrySettings` (attempts, backoff, 429 wait bound, cooldowns).
        sleep, async_sleep, rand: injectable waiting and jitter (tests pass no-ops).
        timeout: the total time of one token request attempt (connect to last byte), in
            seconds; a slower answer counts as a timeout and is retried.
        deadline: the total bound, in seconds, of one :meth:`get_token` call - retries,
            waits and every byte of every answer included, and for callers waiting for
            another's fetch too: by then the caller has a token or a
            :class:`~okta_guard.errors.TokenRequestError`.  By default
            ``retry.max_retry_wait + retry.max_attempts * timeout`` (60 s with the defaults).
        max_response_bytes: largest token endpoint answer read (decoded), in bytes.
        cache: a :class:`TokenCache` to share tokens between clients.
        dpop: ``None`` (default): send DPoP proofs once the token endpoint demands them
            (Okta's ``invalid_dpop_proof``), then keep sending them; ``True``: always;
            ``False``: never (a DPoP-only app then fails with a clear error).
        dpop_key: the DPoP proof key (PEM, JWK dict, ``cryptography`` EC P-256/384/521 or
            RSA >= 2048 key, or a :class:`~okta_guard.call.dpop.DPoPKey`); default a fresh
            EC P-256 key per client.  DPoP-bound tokens are cached per key thumbprint.
        store: a :class:`~okta_guard.store.Store` (e.g. :class:`okta_guard.redis.RedisStore`)
            to share tokens between processes: one token request per expiry for the
            fleet (see ``docs/fleet.md``).  Tokens are stored encrypted.
        encryption_key: seals the shared tokens (>= 16 bytes, the same everywhere);
            by default a key is derived from the client's secret or private key.
        store_settings: :class:`StoreSettings` (waits, lock expiry, failure backoff).

    Secrets and tokens never appear in ``repr``, logs or error messages.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        scopes: str | Iterable[str],
        private_key: PrivateKeyInput | None = None,
        auth_method: AuthMethod = "client_secret_basic",
        clock: Callable[[], float] = time.time,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        key_id: str | None = None,
        audience: str | None = None,
        extra_params: Mapping[str, str] | None = None,
        token_url: str | None = None,
        refresh_margin: float = 60.0,
        refresh_fraction: float = 0.25,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        timeout: float = 10.0,
        deadline: float | None = None,
        max_response_bytes: int = MAX_TOKEN_RESPONSE_BYTES,
        cache: TokenCache | None = None,
        dpop: bool | None = None,
        dpop_key: PrivateKeyInput | DPoPKey | None = None,
        store: Store | None = None,
        encryption_key: bytes | str | None = None,
        store_settings: StoreSettings | None = None,
    ) -> None:
        self.issuer = validate_issuer(issuer)
        self.client_id = check_client_id(client_id)
        self.scopes = normalize_scopes(scopes)
        self.token_url = (
            checked_endpoint_url("token_url", token_url)
            if token_url is not None
            else f"{self.issuer}/v1/token"
        )
        if not (refresh_margin >= 0 and 0 <= refresh_fraction <= 1):
            raise ConfigurationError(
                "refresh_margin must be >= 0 and refresh_fraction between 0 and 1."
            )
        method, authenticator = client_authentication(
            auth_method,
            client_id=self.client_id,
            client_secret=client_secret,
            private_key=private_key,
            key_id=key_id,
            endpoint=self.token_url,
            clock=clock,
        )
        self.auth_method: str = method
        self._params = normalize_extra_params(extra_params, audience)
        self._dpop = DPoPSession(dpop, dpop_key, clock)
        base = CacheKey.build(self.issuer, self.client_id, self.scopes, method, self._params)
        self.retry = retry or RetrySettings()
        self._clock = clock
        if deadline is None:
            deadline = self.retry.max_retry_wait + self.retry.max_attempts * timeout
        if not (isinstance(max_response_bytes, int) and max_response_bytes >= 1024):
            raise ConfigurationError("max_response_bytes must be an integer of at least 1024.")
        self.deadline = positive_seconds("deadline", deadline, allow_zero=False)
        self._shared = build_shared(
            store,
            cache_key_of(base, self._dpop),
            client_secret=client_secret,
            private_key=private_key,
            encryption_key=encryption_key,
            settings=store_settings,
            clock=clock,
        )
        self._fetcher = TokenFetcher(
            token_url=self.token_url,
            client_id=self.client_id,
            scopes=self.scopes,
            params=self._params,
            authenticator=authenticator,
            dpop=self._dpop,
            retry=self.retry,
            clock=clock,
            sleep=sleep,
            async_sleep=async_sleep,
            rand=rand,
            timeout=timeout,
            max_bytes=max_response_bytes,
            refresh_margin=refresh_margin,
            refresh_fraction=refresh_fraction,
            http=HttpClients(
                http_client,
                async_http_client,
                timeout=timeout,
                async_keepalive=False,  # tokens come about hourly: no socket outlives its loop
            ),
            shared=self._shared,
        )
        self._tokens = ClientTokens(
            base,
            cache=cache if cache is not None else TokenCache(),
            fetcher=self._fetcher,
            shared=self._shared,
            dpop=self._dpop,
            retry=self.retry,
            deadline=self.deadline,
            clock=clock,
        )
        self._auth = TokenAuth(self)

    # -- construction helpers -------------------------------------------------------

    @classmethod
    def from_domain(
        cls,
        domain: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        auth_server_id: str = "default",
        **kwargs: Any,
    ) -> TokenClient:
        """Build a client from the Okta domain ("Tenant ID") and authorization server id."""
        return cls(issuer_from_domain(domain, auth_server_id), client_id, client_secret, **kwargs)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> TokenClient:
        """Build a client from ``OKTA_*`` environment variables; keyword arguments win.

        Reads ``OKTA_ISSUER`` (or ``OKTA_DOMAIN`` + ``OKTA_AUTH_SERVER_ID``),
        ``OKTA_CLIENT_ID``, ``OKTA_CLIENT_SECRET``, ``OKTA_SCOPES``, ``OKTA_AUTH_METHOD``,
        ``OKTA_PRIVATE_KEY`` / ``OKTA_PRIVATE_KEY_FILE`` and ``OKTA_KEY_ID``.
        """
        kwargs = client_arguments_from_env(env, overrides)
        issuer, client_id = kwargs.pop("issuer"), kwargs.pop("client_id")
        return cls(issuer, client_id, kwargs.pop("client_secret", None), **kwargs)

    # -- public API -----------------------------------------------------------------

    def note_dpop_nonce(self, url: str | httpx.URL, response: Any) -> bool:
        """Remember the ``DPoP-Nonce`` an API sent (any response with ``.headers``).

        Returns True when it is a new nonce: then, if the answer was 401 with
        ``WWW-Authenticate: DPoP error="use_dpop_nonce"``, send the request once more
        with a fresh :meth:`dpop_proof` (RFC 9449 §9).  ``client.auth`` does this itself.
        """
        return self._dpop.note_api_nonce(url, response)

    @property
    def uses_dpop(self) -> bool:
        """Whether token requests carry DPoP proofs now (``dpop=True``, or after the switch)."""
        return self._dpop.active

    @property
    def dpop_key(self) -> DPoPKey | None:
        """The DPoP proof key (``None`` with ``dpop=False``); ``.thumbprint`` is ``cnf.jkt``."""
        return self._dpop.key

    @property
    def dpop_session(self) -> DPoPSession:
        """This client's DPoP state (proof key, remembered nonces)."""
        return self._dpop

    def dpop_proof(
        self, method: str, url: str | httpx.URL, *, access_token: str | None = None
    ) -> str:
        """A fresh ``DPoP`` proof header value for one request to an API (RFC 9449 §4.2).

        For HTTP stacks other than httpx (``requests``, ``aiohttp``; see docs/dpop.md):
        send ``Authorization: DPoP <access_token>`` and ``DPoP: <this>``, one new proof per
        request.  It carries ``htm``, ``htu`` (``url`` without query and fragment), ``iat``,
        a new ``jti``, ``ath`` for ``access_token`` and the nonce last seen from that origin
        (record a new one with :meth:`note_dpop_nonce`).
        """
        if access_token is None:
            key = self._dpop.key
            if key is None:
                raise ConfigurationError("This client does not use DPoP (dpop=False).")
            return key.proof(method, url, now=self._clock())
        return self._dpop.api_proof(method, url, access_token)

    @property
    def auth(self) -> TokenAuth:
        """An :class:`httpx.Auth` adding this client's token to requests (sync and async)."""
        return self._auth

    def get_token(self, *, force_refresh: bool = False) -> ServiceToken:
        """Return a valid service token, fetching or refreshing it when needed.

        Raises :class:`~okta_guard.errors.TokenRequestError` when no token can be had.
        """
        return self._tokens.get(force_refresh=force_refresh)

    async def get_token_async(self, *, force_refresh: bool = False) -> ServiceToken:
        """Async :meth:`get_token`; shares the cache and single flight with sync callers."""
        return await self._tokens.get_async(force_refresh=force_refresh)

    @property
    def cache_key(self) -> CacheKey:
        """This client's slot in the token cache (it changes once, on a switch to DPoP)."""
        return self._tokens.key

    @property
    def cached_token(self) -> ServiceToken | None:
        """The token in the cache right now, whatever its freshness (no request is made)."""
        return self._tokens.cached_token

    def invalidate(self, token: ServiceToken | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given).

        Without ``token`` this also clears a remembered failure, so the next call
        asks Okta again at once.
        """
        self._tokens.invalidate(token)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this client uses (epoch seconds)."""
        return self._clock

    @property
    def store_stats(self) -> dict[str, int] | None:
        """Counters of the shared store's use (hits, fetches, errors...); ``None`` without one."""
        return self._shared.stats.snapshot() if self._shared is not None else None

    def close(self) -> None:
        """Close the httpx clients this client created (not the ones passed in)."""
        self._fetcher.http.close()

    async def aclose(self) -> None:
        """Close every httpx client this client created."""
        await self._fetcher.http.aclose()

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> TokenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"TokenClient(issuer={self.issuer!r}, client_id={self.client_id!r}, "
            f"scopes={self.scopes!r}, auth_method={self.auth_method!r}, "
            f"dpop={self._dpop.mode!r})"
        )
