"""IntrospectionClient: ask Okta's ``/v1/introspect`` whether an access token is active.

An outbound, authenticated call like the token request: the client proves who it
is with any of the four methods of :mod:`okta_guard.call.auth_methods`
(``client_secret_basic`` by default, ``client_secret_post``, ``private_key_jwt``,
``client_secret_jwt``), from credentials of its own (an app allowed to introspect;
for JWT assertions the audience is the introspection URL).  It implements the
:class:`~okta_guard.verify.introspection.Introspector` protocol that
:class:`~okta_guard.TokenVerifier` accepts as ``introspection=``; caching, single
flight and the outage policy are the verifier's (:mod:`okta_guard.verify.revocation`).
Answers kept in a shared store are sealed with :attr:`IntrospectionClient.answer_sealer`,
under a key derived from this client's credentials.

Every failure is an :class:`~okta_guard.errors.IssuerUnavailableError` (503):
network errors, timeouts (and a total deadline, so a drip-fed body cannot hold a
request), 5xx, a body above the size cap (checked while decoding, so a gzip bomb
cannot inflate), a malformed answer, a refused client (logged with the fix), and
429 (reason ``introspection_rate_limited``, ``retry_after`` from ``Retry-After`` or
``X-Rate-Limit-Reset``).  The request goes through the library's one outbound shell
(:mod:`okta_guard._http`: deadline, decoded-size cap, no redirects, telemetry span).
Tokens and secrets never appear in logs or messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from okta_guard._http import HttpClients, send_async, send_sync
from okta_guard._retry import retry_after_seconds
from okta_guard._sansio import DEADLINE_PASSED, Deadline, HttpRequest, HttpResponse
from okta_guard._seal import Sealer
from okta_guard.call.auth_methods import PrivateKeyInput, client_authentication, form_post
from okta_guard.call.config import check_client_id, checked_endpoint_url, kwargs_from_env
from okta_guard.call.shared_seal import answer_sealer, credential_material
from okta_guard.errors import ConfigurationError, IssuerUnavailableError
from okta_guard.settings import issuer_from_env, validate_issuer
from okta_guard.verify.introspection import IntrospectionAnswer
from okta_guard.verify.options import positive_seconds

__all__ = ["MAX_ANSWER_BYTES", "IntrospectionClient"]

logger = logging.getLogger("okta_guard.call.introspection")

#: Largest (decoded) introspection answer accepted, in bytes.
MAX_ANSWER_BYTES = 64 * 1024


class IntrospectionClient:
    """Introspects access tokens at ``{issuer}/v1/introspect`` (RFC 7662).

    Args:
        issuer: the custom authorization server that issued the tokens.
        client_id, client_secret: credentials of an app allowed to introspect.
        private_key, key_id, auth_method: as for :class:`~okta_guard.TokenClient`
            (a key alone selects ``private_key_jwt``).
        introspection_url: override ``{issuer}/v1/introspect``.
        clock: epoch seconds (assertions, rate-limit resets).
        http_client, async_http_client: httpx clients to use (never closed by us).
        timeout: per-operation timeout of owned clients.
        deadline: the total bound of one introspection, body included (default
            ``2 * timeout``): a drip-fed or stalled answer ends there as a 503.
        max_answer_bytes: size cap of the (decoded) answer.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        private_key: PrivateKeyInput | None = None,
        key_id: str | None = None,
        auth_method: str = "client_secret_basic",
        introspection_url: str | None = None,
        clock: Callable[[], float] = time.time,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        deadline: float | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.issuer = validate_issuer(issuer)
        self.client_id = check_client_id(client_id)
        self.introspection_url = (
            checked_endpoint_url("introspection_url", introspection_url)
            if introspection_url is not None
            else f"{self.issuer}/v1/introspect"
        )
        self.auth_method, self._authenticator = client_authentication(
            auth_method,
            client_id=self.client_id,
            client_secret=client_secret,
            private_key=private_key,
            key_id=key_id,
            endpoint=self.introspection_url,
            clock=clock,
        )
        if type(max_answer_bytes) is not int or max_answer_bytes < 64:  # bool is no size
            raise ConfigurationError("max_answer_bytes must be an integer of at least 64.")
        self._timeout = positive_seconds("timeout", timeout, allow_zero=False)
        self._deadline = positive_seconds(
            "deadline", 2 * self._timeout if deadline is None else deadline, allow_zero=False
        )
        self._answer_sealer = answer_sealer(
            credential_material(client_secret, private_key), self.issuer
        )
        self._clock = clock
        self._cap = max_answer_bytes
        self._http = HttpClients(
            http_client,
            async_http_client,
            timeout=self._timeout,
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> IntrospectionClient:
        """Build from ``OKTA_INTROSPECTION_CLIENT_ID`` / ``OKTA_INTROSPECTION_CLIENT_SECRET``
        (falling back to ``OKTA_CLIENT_ID`` / ``OKTA_CLIENT_SECRET``), ``OKTA_ISSUER`` and
        ``OKTA_AUTH_METHOD`` / ``OKTA_PRIVATE_KEY[_FILE]`` / ``OKTA_KEY_ID``."""
        import os

        source = os.environ if env is None else env
        kwargs = kwargs_from_env(source)
        kwargs.pop("scopes", None)
        kwargs.pop("audience", None)
        kwargs.pop("extra_params", None)
        client_id = source.get("OKTA_INTROSPECTION_CLIENT_ID")
        if client_id:
            kwargs["client_id"] = client_id
            kwargs["client_secret"] = source.get("OKTA_INTROSPECTION_CLIENT_SECRET")
        kwargs.update(overrides)
        if "client_id" not in kwargs:
            raise ConfigurationError(
                "No introspection client configured: set OKTA_INTROSPECTION_CLIENT_ID and "
                "OKTA_INTROSPECTION_CLIENT_SECRET (or OKTA_CLIENT_ID / OKTA_CLIENT_SECRET)."
            )
        # Without OKTA_ISSUER / OKTA_DOMAIN this raises ConfigurationError naming them.
        issuer = kwargs.pop("issuer", None) or issuer_from_env(source)
        client_id = kwargs.pop("client_id")
        secret = kwargs.pop("client_secret", None)
        allowed = {"private_key", "key_id", "auth_method", "clock", "timeout"}
        return cls(issuer, client_id, secret, **{k: v for k, v in kwargs.items() if k in allowed})

    def __repr__(self) -> str:
        return (
            f"IntrospectionClient(issuer={self.issuer!r}, client_id={self.client_id!r}, "
            f"auth_method={self.auth_method!r})"
        )

    @property
    def answer_sealer(self) -> Sealer:
        """Seals this issuer's answers in a shared store, under a key derived from this
        client's credentials (every replica with them shares the answers)."""
        return self._answer_sealer

    # -- requests ----------------------------------------------------------------------

    def _request(self, token: str) -> HttpRequest:
        form = {"token": token, "token_type_hint": "access_token"}
        return form_post(self._authenticator, self.introspection_url, form, max_bytes=self._cap)

    def _answer(self, response: HttpResponse) -> IntrospectionAnswer:
        status = response.status
        if response.error is not None:
            reason = {
                "too_large": "introspection_too_large",
                "timeout": "introspection_timeout",
                "deadline": "introspection_timeout",
                "encoding": "introspection_bad_answer",
            }.get(response.error, "introspection_unreachable")
            raise IssuerUnavailableError(
                "The authorization server cannot check the access token now; try again later.",
                reason=reason,
            )
        if status == 429:
            wait = retry_after_seconds(response.headers, self._clock())
            raise IssuerUnavailableError(
                "The authorization server rate-limited introspection; try again later.",
                retry_after=wait if wait is not None else 60.0,
                reason="introspection_rate_limited",
            )
        if status in (400, 401, 403):
            logger.error(
                "okta-guard: Okta refused the introspection client %r (HTTP %d): check its "
                "credentials and auth method (Applications > the app > General); the app must "
                "belong to this org.",
                self.client_id,
                status,
            )
            raise IssuerUnavailableError(
                "The API cannot check access tokens right now.",
                reason="introspection_client_refused",
            )
        if status != 200:
            raise IssuerUnavailableError(
                "The authorization server cannot check the access token now; try again later.",
                reason="introspection_unavailable",
            )
        try:
            return IntrospectionAnswer.parse(response.body)
        except ValueError:
            raise IssuerUnavailableError(
                "The authorization server's introspection answer was not understood.",
                reason="introspection_bad_answer",
            ) from None

    def introspect(self, token: str) -> IntrospectionAnswer:
        """Ask whether ``token`` is active (blocking); raise ``IssuerUnavailableError``."""
        deadline = Deadline(self._deadline)
        request = self._request(token)
        if deadline.expired():  # pragma: no cover - a zero deadline is refused at construction
            return self._answer(DEADLINE_PASSED)
        return self._answer(send_sync(self._http.sync(), request, deadline))

    async def introspect_async(self, token: str) -> IntrospectionAnswer:
        """Ask whether ``token`` is active without blocking the loop."""
        deadline = Deadline(self._deadline)
        request = self._request(token)
        try:
            response = await asyncio.wait_for(
                send_async(self._http.async_(), request, deadline), deadline.remaining()
            )
        except asyncio.TimeoutError:
            response = DEADLINE_PASSED
        return self._answer(response)

    # -- clients -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync httpx client this client created."""
        self._http.close()

    async def aclose(self) -> None:
        """Close every httpx client this client created."""
        await self._http.aclose()
