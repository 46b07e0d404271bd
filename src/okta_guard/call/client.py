"""TokenClient: client-credentials service tokens from an Okta custom authorization server.

The decisions (freshness, retries, error classification) live in
:mod:`okta_guard.call.policy`, the shared thread/task-safe cache in
:mod:`okta_guard.call.token_cache` and client authentication in
:mod:`okta_guard.call.auth_methods`; this module is the thin sync and async shell: it
runs the token flow on the shared drivers of :mod:`okta_guard._sansio` with the httpx
shells of :mod:`okta_guard._http`, which bound every fetch by the client's total
``deadline`` and every response by ``max_response_bytes``.

    client = TokenClient("https://dev-123.okta.com/oauth2/default", "0oa...", secret,
                         scopes=["orders:read"])
    token = client.get_token()                 # or: await client.get_token_async()
    httpx.get(url, auth=client.auth)           # Authorization: Bearer ... (or DPoP + proof)

DPoP (RFC 9449) lives in :mod:`okta_guard.call.dpop`: with ``dpop=None`` (the default) a
client switches to DPoP when Okta demands proofs, and then sends them for good.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpx

from okta_guard._flight import running_loop
from okta_guard._http import HttpClients, send_async, send_sync
from okta_guard._sansio import Deadline, HttpRequest, HttpResponse, drive, drive_async
from okta_guard.call.auth_methods import PrivateKeyInput, Secret, build_authenticator
from okta_guard.call.config import (
    check_client_id,
    checked_endpoint_url,
    kwargs_from_env,
    normalize_extra_params,
    normalize_scopes,
)
from okta_guard.call.dpop import DPoPKey, DPoPSession, dpop_token_flow
from okta_guard.call.httpx_auth import TokenAuth
from okta_guard.call.policy import (
    AuthMethod,
    CachedToken,
    CacheKey,
    Fatal,
    FetchFlow,
    RetrySettings,
    Success,
    refresh_at,
    token_fetch_flow,
)
from okta_guard.call.shared_cache import build_shared, drive_shared, drive_shared_async
from okta_guard.call.shared_policy import StoreSettings
from okta_guard.call.token_cache import Flight, Lead, TokenCache, TokenFlight, flight_outcome
from okta_guard.errors import ConfigurationError, TokenRequestError
from okta_guard.models import ServiceToken
from okta_guard.settings import issuer_from_domain, issuer_from_env, validate_issuer
from okta_guard.store import Store

__all__ = ["MAX_TOKEN_RESPONSE_BYTES", "RetrySettings", "TokenCache", "TokenClient"]

logger = logging.getLogger("okta_guard.call.client")

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
        key_only = private_key is not None and client_secret is None
        if key_only and auth_method == "client_secret_basic":
            auth_method = "private_key_jwt"  # the key alone says which method is meant
        if not (refresh_margin >= 0 and 0 <= refresh_fraction <= 1):
            raise ConfigurationError(
                "refresh_margin must be >= 0 and refresh_fraction between 0 and 1."
            )
        self.auth_method: str = auth_method
        self._params = normalize_extra_params(extra_params, audience)
        self._authenticator = build_authenticator(
            auth_method,
            client_id=self.client_id,
            secret=Secret(client_secret) if client_secret is not None else None,
            private_key=private_key,
            key_id=key_id,
            token_url=self.token_url,
            clock=clock,
        )
        self._dpop = DPoPSession(dpop, dpop_key, clock)
        self.cache_key = self._build_cache_key()
        self.retry = retry or RetrySettings()
        self._refresh_margin = refresh_margin
        self._refresh_fraction = refresh_fraction
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._rand = rand
        self._timeout = timeout
        if deadline is None:
            deadline = self.retry.max_retry_wait + self.retry.max_attempts * timeout
        if not (isinstance(deadline, (int, float)) and 0 < deadline < float("inf")):
            raise ConfigurationError("deadline must be a finite, positive number of seconds.")
        if not (isinstance(max_response_bytes, int) and max_response_bytes >= 1024):
            raise ConfigurationError("max_response_bytes must be an integer of at least 1024.")
        self.deadline = float(deadline)
        self._max_bytes = max_response_bytes
        self._cache = cache if cache is not None else TokenCache()
        self._shared = build_shared(
            store,
            self.cache_key,
            client_secret=client_secret,
            private_key=private_key,
            encryption_key=encryption_key,
            settings=store_settings,
            clock=clock,
        )
        self._http = HttpClients(
            http_client,
            async_http_client,
            timeout=self._timeout,
            async_keepalive=False,  # tokens come about hourly: no socket outlives its loop
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
        kwargs = kwargs_from_env(env)
        kwargs.update(overrides)
        if "issuer" not in kwargs:
            issuer_from_env(env)  # raises the error that says which variables to set
        if "client_id" not in kwargs:
            raise ConfigurationError(
                "No client id configured: set OKTA_CLIENT_ID (Okta admin: Applications > your "
                "API Services app > General > Client Credentials)."
            )
        if "scopes" not in kwargs:
            raise ConfigurationError(
                "No scopes configured: set OKTA_SCOPES to one or more custom scopes, "
                "e.g. 'orders:read'."
            )
        issuer = kwargs.pop("issuer")
        client_id = kwargs.pop("client_id")
        secret = kwargs.pop("client_secret", None)
        return cls(issuer, client_id, secret, **kwargs)

    def _build_cache_key(self) -> CacheKey:
        # The thumbprint is part of the key once tokens may be bound to it: always with
        # dpop=True or an explicit key; with dpop=None only after the switch, so that
        # clients of a Bearer app still share a cache slot.
        session = self._dpop
        jkt = session.thumbprint if session.active or session.explicit_key else None
        return CacheKey.build(
            self.issuer, self.client_id, self.scopes, self.auth_method, self._params, jkt
        )

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
        if force_refresh:
            self.invalidate()
        else:
            cached = self._cache.fresh(self.cache_key, self._clock())
            if cached is not None:
                return cached
        deadline = Deadline(self.deadline)
        while True:
            value = self._cache.decide(self.cache_key, self._clock(), None)
            if isinstance(value, ServiceToken):
                return value
            if isinstance(value, Lead):
                return self._lead_sync(value.flight, deadline)
            loop = value.leader_loop
            if loop is not None and loop is running_loop():
                # A task of the loop this thread is running leads the fetch: blocking on it
                # would deadlock, so fetch on our own (outside the single flight).
                return self._lead_sync(Flight(None), deadline)
            if not value.wait(deadline.remaining()):
                raise self._waited_too_long()
            token = flight_outcome(value)
            if token is not None:
                return token

    async def get_token_async(self, *, force_refresh: bool = False) -> ServiceToken:
        """Async :meth:`get_token`; shares the cache and single flight with sync callers."""
        if force_refresh:
            self.invalidate()
        else:
            cached = self._cache.fresh(self.cache_key, self._clock())
            if cached is not None:
                return cached
        loop = asyncio.get_running_loop()
        deadline = Deadline(self.deadline)
        while True:
            value = self._cache.decide(self.cache_key, self._clock(), loop)
            if isinstance(value, ServiceToken):
                return value
            if isinstance(value, Lead):
                return await self._lead_async(value.flight, deadline)
            if not await value.wait_async(deadline.remaining()):
                raise self._waited_too_long()
            token = flight_outcome(value)
            if token is not None:
                return token

    @property
    def cached_token(self) -> ServiceToken | None:
        """The token in the cache right now, whatever its freshness (no request is made)."""
        entry = self._cache.peek(self.cache_key)
        return entry.token if entry is not None else None

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this client uses (epoch seconds)."""
        return self._clock

    def invalidate(self, token: ServiceToken | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given).

        Without ``token`` this also clears a remembered failure, so the next call
        asks Okta again at once.
        """
        if self._shared is not None:
            bad = token if token is not None else self.cached_token
            if bad is not None:
                self._shared.reject(bad)
            self._shared.forget(self.cache_key, token)
        self._cache.invalidate(self.cache_key, token)

    @property
    def store_stats(self) -> dict[str, int] | None:
        """Counters of the shared store's use (hits, fetches, errors...); ``None`` without one."""
        return self._shared.stats.snapshot() if self._shared is not None else None

    def close(self) -> None:
        """Close the httpx clients this client created (not the ones passed in)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close every httpx client this client created."""
        await self._http.aclose()

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

    # -- I/O shells -----------------------------------------------------------------

    def _waited_too_long(self) -> TokenRequestError:
        return TokenRequestError(
            f"No service token for client {self.client_id!r} within the client's deadline "
            f"({self.deadline:g} s): another caller's token request is still running. "
            "Try again later.",
            error="temporarily_unavailable",
            status_code=503,
            retryable=True,
            reason="deadline",
        )

    def _build_request(self) -> HttpRequest:
        headers = {"Accept": "application/json"}
        form = {"grant_type": "client_credentials", "scope": " ".join(self.scopes)}
        form.update(self._params)
        self._authenticator.apply(headers, form)
        proof = self._dpop.token_proof(self.token_url)
        if proof is not None:
            headers["DPoP"] = proof
        return HttpRequest(
            self.token_url,
            method="POST",
            headers=headers,
            form=tuple(form.items()),
            max_bytes=self._max_bytes,
        )

    def _flow(self) -> FetchFlow:
        flow = self._plain_flow()
        if self._dpop.key is None:
            return flow
        return dpop_token_flow(flow, self._build_request, self._dpop)

    def _plain_flow(self) -> FetchFlow:
        return token_fetch_flow(
            self._build_request,
            clock=self._clock,
            client_id=self.client_id,
            scopes=self.scopes,
            settings=self.retry,
            rand=self._rand,
        )

    def _lead_sync(self, flight: TokenFlight, deadline: Deadline) -> ServiceToken:
        key = self.cache_key
        try:
            if self._shared is None:
                outcome: Success | Fatal | CachedToken = self._drive_sync(deadline)
            else:
                outcome = drive_shared(
                    self._shared,
                    key,
                    lambda: self._drive_sync(deadline),
                    self._entry_for,
                    wait_bound=deadline.remaining() / 2,
                )
        except BaseException:
            self._cache.abandon(key, flight)
            raise
        return self._settle(flight, outcome, key)

    async def _lead_async(self, flight: TokenFlight, deadline: Deadline) -> ServiceToken:
        key = self.cache_key
        try:
            if self._shared is None:
                outcome: Success | Fatal | CachedToken = await self._drive_async(deadline)
            else:
                outcome = await drive_shared_async(
                    self._shared,
                    key,
                    lambda: self._drive_async(deadline),
                    self._entry_for,
                    wait_bound=deadline.remaining() / 2,
                )
        except BaseException:  # includes cancellation: waiters elect a new leader
            self._cache.abandon(key, flight)
            raise
        return self._settle(flight, outcome, key)

    def _attempt(self, deadline: Deadline) -> Deadline:
        # One attempt ends by ``timeout`` in total (connect to last byte), the call by
        # ``deadline``: a dripping answer costs one attempt, and the flow retries.
        return Deadline(min(self._timeout, deadline.remaining()))

    def _attempt_over(self, answer: HttpResponse, deadline: Deadline) -> HttpResponse:
        if answer.error == "deadline" and not deadline.expired():
            detail = f"no complete answer within timeout={self._timeout:g} s"
            return HttpResponse(0, error="timeout", detail=detail)
        return answer

    def _drive_sync(self, deadline: Deadline) -> Success | Fatal:
        http = self._http.sync()

        def send(request: HttpRequest, deadline: Deadline) -> HttpResponse:
            answer = send_sync(http, request, self._attempt(deadline))
            return self._attempt_over(answer, deadline)

        return drive(self._flow(), send, deadline=deadline, sleep=self._sleep)

    async def _drive_async(self, deadline: Deadline) -> Success | Fatal:
        http = self._http.async_()

        async def send(request: HttpRequest, deadline: Deadline) -> HttpResponse:
            attempt = self._attempt(deadline)
            try:
                answer = await asyncio.wait_for(
                    send_async(http, request, attempt), attempt.remaining()
                )
            except asyncio.TimeoutError:
                answer = HttpResponse(0, error="deadline")
            return self._attempt_over(answer, deadline)

        return await drive_async(self._flow(), send, deadline=deadline, sleep=self._async_sleep)

    def _entry_for(self, outcome: Success) -> CachedToken:
        issued = outcome.token.issued_at
        obtained = issued.timestamp() if issued is not None else self._clock()
        return CachedToken(
            token=outcome.token,
            obtained_at=obtained,
            refresh_at=refresh_at(
                obtained,
                outcome.expires_at,
                margin=self._refresh_margin,
                fraction=self._refresh_fraction,
            ),
            expires_at=outcome.expires_at,
        )

    def _settle(
        self,
        flight: TokenFlight,
        outcome: Success | Fatal | CachedToken,
        key: CacheKey | None = None,
    ) -> ServiceToken:
        now = self._clock()
        key = self.cache_key if key is None else key
        if self._dpop.active and key.dpop_jkt is None:
            # Switched to DPoP during this fetch: its token is bound to our key, so it
            # belongs in our own slot.  Waiters of the old slot decide again.
            logger.info(
                "Okta demands DPoP proofs for client %r; sending them from now on.",
                self.client_id,
            )
            old_key, old_flight = key, flight
            key = self._build_cache_key()
            # Claim the new slot before waking the old one's waiters, so that they wait
            # for this token there instead of fetching another.
            decision = self._cache.decide(key, now, None)
            self.cache_key = key
            self._cache.abandon(old_key, old_flight)
            if not isinstance(decision, Lead):
                if isinstance(outcome, Fatal):
                    raise outcome.error
                return outcome.token
            flight = decision.flight
        if isinstance(outcome, CachedToken):  # from the shared store, or fetched through it
            return self._cache.complete(key, flight, now, entry=outcome, settings=self.retry)
        if isinstance(outcome, Success):
            entry = self._entry_for(outcome)
            logger.debug(
                "Got a service token for client %r (scopes %s, expires in %.0f s).",
                self.client_id,
                " ".join(sorted(outcome.token.scopes)),
                outcome.expires_at - now,
            )
            return self._cache.complete(key, flight, now, entry=entry, settings=self.retry)
        error = outcome.error
        logger.warning(
            "Token request for client %r failed (%s): %s",
            self.client_id,
            error.reason,
            error.description,
        )
        return self._cache.complete(
            key,
            flight,
            now,
            error=error,
            cooldown=outcome.cooldown,
            retry_after=outcome.retry_after,
            settings=self.retry,
        )
