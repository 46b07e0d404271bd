"""One client's token fetch: through the fleet's store, else from the token endpoint.

:class:`TokenFetcher` is the I/O shell of :func:`~okta_guard.call.policy.token_fetch_flow`
for one :class:`~okta_guard.TokenClient`: it builds every request afresh (client
authentication of :mod:`okta_guard.call.auth_methods`, a DPoP proof when the client
sends them), runs the flow on the shared drivers of :mod:`okta_guard._sansio` with the
httpx shells of :mod:`okta_guard._http`, and bounds one attempt by ``timeout`` and the
whole fetch by the caller's deadline.  With a store, the fetch goes through the fleet's
single flight (:mod:`okta_guard.call.shared_cache`).  Which caller of this process
fetches, and where the token goes, is the client's and the token cache's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from okta_guard._http import HttpClients, send_async, send_sync
from okta_guard._sansio import Deadline, HttpRequest, HttpResponse, drive, drive_async
from okta_guard.call.auth_methods import ClientAuthenticator, form_post
from okta_guard.call.dpop import DPoPSession, dpop_token_flow
from okta_guard.call.policy import (
    CachedToken,
    CacheKey,
    Fatal,
    FetchFlow,
    RetrySettings,
    Success,
    refresh_at,
    token_fetch_flow,
)
from okta_guard.call.shared_cache import SharedTokens, drive_shared, drive_shared_async

__all__ = ["TokenFetcher"]


class TokenFetcher:
    """Fetches service tokens for one client from its token endpoint (sync and async).

    Holds no token: :meth:`fetch_sync` / :meth:`fetch_async` return the flow's
    :class:`~okta_guard.call.policy.Success` or :class:`~okta_guard.call.policy.Fatal`,
    and :meth:`entry_for` turns a success into the token cache's entry.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        scopes: Sequence[str],
        params: Mapping[str, str],
        authenticator: ClientAuthenticator,
        dpop: DPoPSession,
        retry: RetrySettings,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        async_sleep: Callable[[float], Awaitable[None]],
        rand: Callable[[], float],
        timeout: float,
        max_bytes: int,
        refresh_margin: float,
        refresh_fraction: float,
        http: HttpClients,
        shared: SharedTokens | None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scopes = scopes
        self.params = params
        self.authenticator = authenticator
        self.dpop = dpop
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self.async_sleep = async_sleep
        self.rand = rand
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.refresh_margin = refresh_margin
        self.refresh_fraction = refresh_fraction
        self.http = http
        self.shared = shared

    def __repr__(self) -> str:
        return f"TokenFetcher(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def request(self) -> HttpRequest:
        """A new token request: fresh client assertion, fresh DPoP proof (if any)."""
        form = {"grant_type": "client_credentials", "scope": " ".join(self.scopes)}
        form.update(self.params)
        proof = self.dpop.token_proof(self.token_url)
        return form_post(
            self.authenticator,
            self.token_url,
            form,
            max_bytes=self.max_bytes,
            headers={"DPoP": proof} if proof is not None else None,
        )

    def flow(self) -> FetchFlow:
        """The retry flow of one fetch, wrapped in Okta's DPoP dance when proofs may go."""
        flow = token_fetch_flow(
            self.request,
            clock=self.clock,
            client_id=self.client_id,
            scopes=self.scopes,
            settings=self.retry,
            rand=self.rand,
        )
        if self.dpop.key is None:
            return flow
        return dpop_token_flow(flow, self.request, self.dpop)

    def _attempt(self, deadline: Deadline) -> Deadline:
        # One attempt ends by ``timeout`` in total (connect to last byte), the call by
        # ``deadline``: a dripping answer costs one attempt, and the flow retries.
        return Deadline(min(self.timeout, deadline.remaining()))

    def _attempt_over(self, answer: HttpResponse, deadline: Deadline) -> HttpResponse:
        if answer.error == "deadline" and not deadline.expired():
            detail = f"no complete answer within timeout={self.timeout:g} s"
            return HttpResponse(0, error="timeout", detail=detail)
        return answer

    def fetch_sync(self, key: CacheKey, deadline: Deadline) -> Success | Fatal | CachedToken:
        """The cache leader's fetch for ``key`` (blocking): through the fleet's store when
        there is one, else straight from the token endpoint, within ``deadline``."""
        if self.shared is None:
            return self._request_sync(deadline)
        return drive_shared(
            self.shared,
            key,
            lambda: self._request_sync(deadline),
            self.entry_for,
            wait_bound=deadline.remaining() / 2,
        )

    async def fetch_async(self, key: CacheKey, deadline: Deadline) -> Success | Fatal | CachedToken:
        """Async :meth:`fetch_sync`."""
        if self.shared is None:
            return await self._request_async(deadline)
        return await drive_shared_async(
            self.shared,
            key,
            lambda: self._request_async(deadline),
            self.entry_for,
            wait_bound=deadline.remaining() / 2,
        )

    def _request_sync(self, deadline: Deadline) -> Success | Fatal:
        http = self.http.sync()

        def send(request: HttpRequest, deadline: Deadline) -> HttpResponse:
            answer = send_sync(http, request, self._attempt(deadline))
            return self._attempt_over(answer, deadline)

        return drive(self.flow(), send, deadline=deadline, sleep=self.sleep)

    async def _request_async(self, deadline: Deadline) -> Success | Fatal:
        http = self.http.async_()

        async def send(request: HttpRequest, deadline: Deadline) -> HttpResponse:
            attempt = self._attempt(deadline)
            try:
                answer = await asyncio.wait_for(
                    send_async(http, request, attempt), attempt.remaining()
                )
            except asyncio.TimeoutError:
                answer = HttpResponse(0, error="deadline")
            return self._attempt_over(answer, deadline)

        return await drive_async(self.flow(), send, deadline=deadline, sleep=self.async_sleep)

    def entry_for(self, outcome: Success) -> CachedToken:
        """The token cache's entry for a fetched token, with its refresh time."""
        issued = outcome.token.issued_at
        obtained = issued.timestamp() if issued is not None else self.clock()
        return CachedToken(
            token=outcome.token,
            obtained_at=obtained,
            refresh_at=refresh_at(
                obtained,
                outcome.expires_at,
                margin=self.refresh_margin,
                fraction=self.refresh_fraction,
            ),
            expires_at=outcome.expires_at,
        )
