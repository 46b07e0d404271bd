"""``httpx.Auth`` for service tokens: one flow, driven by a sync and an async shell.

:meth:`TokenAuth._flow` is the protocol written once (as in ``httpx/_auth.py``):
it asks for a token, sends the request with ``Authorization: Bearer ...``, and
after a 401 from the API it drops that token and retries once with a fresh one -
for idempotent methods with a replayable body only, and forcing a new token at
most once per ``min_refresh_interval``.  Getting the token is I/O
against the issuer, so the flow *yields* a token request and the sync shell
answers with :meth:`TokenClient.get_token`, the async shell with
:meth:`TokenClient.get_token_async`.  A request is never sent without a token:
if none can be had, the :class:`~okta_guard.errors.TokenRequestError` propagates.

A DPoP-bound token (``token_type`` ``DPoP``) goes out as ``Authorization: DPoP ...``
with a fresh ``DPoP`` proof for that very request; an API's 401 ``use_dpop_nonce`` with a
new ``DPoP-Nonce`` is answered by one resend with the nonce (RFC 9449 §9), which is then
remembered for the API's origin.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Protocol

import httpx

from okta_guard.call.dpop import DPoPSession
from okta_guard.models import ServiceToken

__all__ = ["IDEMPOTENT_METHODS", "TokenAuth", "TokenSource"]


class TokenSource(Protocol):
    """What :class:`TokenAuth` needs of a token client (:class:`~okta_guard.TokenClient` is one).

    A protocol, so that this module does not import the client that imports it.
    """

    @property
    def cached_token(self) -> ServiceToken | None:
        """The token in the cache right now, if any."""

    @property
    def clock(self) -> Callable[[], float]:
        """The clock of the client (epoch seconds)."""

    def get_token(self) -> ServiceToken:
        """A valid token, fetched when needed."""

    async def get_token_async(self) -> ServiceToken:
        """A valid token, fetched without blocking the event loop."""

    def invalidate(self, token: ServiceToken | None = None) -> None:
        """Forget ``token`` (or whatever is cached)."""

    @property
    def dpop_session(self) -> DPoPSession:
        """The client's DPoP state (proof key, nonces) for DPoP-bound tokens."""


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_NONCE_ERROR = re.compile(r'error\s*=\s*"?use_dpop_nonce"?', re.IGNORECASE)


@dataclass(frozen=True)
class _NeedToken:
    """The flow asks its shell for a token."""


_NEED_TOKEN = _NeedToken()
_Step = httpx.Request | _NeedToken
_Reply = httpx.Response | ServiceToken


class TokenAuth(httpx.Auth):
    """Adds a :class:`~okta_guard.TokenClient`'s service token to httpx requests.

    Use ``client.auth``: ``httpx.Client(auth=token_client.auth)`` or
    ``httpx.AsyncClient(auth=token_client.auth)``.
    """

    def __init__(self, client: TokenSource, *, min_refresh_interval: float = 30.0) -> None:
        self._client = client
        self._min_refresh_interval = min_refresh_interval
        self._last_forced: float | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenAuth({self._client!r})"

    def _should_retry(self, token: ServiceToken) -> bool:
        """Decide whether a 401 for ``token`` is worth one retry with a fresh token.

        If another caller already replaced the token, retry with the new one.  Otherwise
        drop it and fetch a new one - but at most once per ``min_refresh_interval``, so
        an API that refuses every token (wrong audience, say) does not turn each call
        into a token request.
        """
        current = self._client.cached_token
        if current is not None and current.access_token != token.access_token:
            return True
        now = self._client.clock()
        with self._lock:
            last = self._last_forced
            if last is not None and 0 <= now - last < self._min_refresh_interval:
                return False
            self._last_forced = now
        self._client.invalidate(token)
        return True

    @staticmethod
    def _replayable(request: httpx.Request) -> bool:
        return request.method.upper() in IDEMPOTENT_METHODS and isinstance(
            request.stream, httpx.ByteStream
        )

    def _authorize(self, request: httpx.Request, token: ServiceToken) -> None:
        request.headers["Authorization"] = token.authorization
        if token.token_type == "DPoP":
            request.headers["DPoP"] = self._client.dpop_session.api_proof(
                request.method, request.url, token.access_token
            )
        elif "DPoP" in request.headers:
            del request.headers["DPoP"]

    def _wants_nonce(self, request: httpx.Request, response: httpx.Response) -> bool:
        """Note the API's nonce; tell whether the API refused the proof for lack of it."""
        session = self._client.dpop_session
        new = session.note_api_nonce(request.url, response)
        if response.status_code != 401 or not new:
            return False
        return any(
            _NONCE_ERROR.search(value) is not None
            for value in response.headers.get_list("www-authenticate")
        )

    def _flow(self, request: httpx.Request) -> Generator[_Step, _Reply, None]:
        token = yield _NEED_TOKEN
        assert isinstance(token, ServiceToken)
        self._authorize(request, token)
        # Before sending: sending may buffer a stream.
        resendable = isinstance(request.stream, httpx.ByteStream)
        replayable = self._replayable(request)
        response = yield request
        assert isinstance(response, httpx.Response)
        if token.token_type == "DPoP" and self._wants_nonce(request, response) and resendable:
            # 401 use_dpop_nonce: the API did not act on the request; resend with its nonce.
            self._authorize(request, token)
            response = yield request
            assert isinstance(response, httpx.Response)
            self._client.dpop_session.note_api_nonce(request.url, response)
        # The API refused this token (revoked, keys rotated, ...): try once more with a
        # fresh one.
        if response.status_code != 401 or not replayable or not self._should_retry(token):
            return
        fresh = yield _NEED_TOKEN
        assert isinstance(fresh, ServiceToken)
        self._authorize(request, fresh)
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Run the flow for :class:`httpx.Client`, fetching tokens synchronously."""
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _NeedToken):
                    step = flow.send(self._client.get_token())
                else:
                    response = yield step
                    step = flow.send(response)
        except StopIteration:
            return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Run the flow for :class:`httpx.AsyncClient`, fetching tokens asynchronously."""
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _NeedToken):
                    step = flow.send(await self._client.get_token_async())
                else:
                    response = yield step
                    step = flow.send(response)
        except StopIteration:
            return

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Same as :meth:`sync_auth_flow` (httpx calls the sync/async variants directly)."""
        return self.sync_auth_flow(request)
