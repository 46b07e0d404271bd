"""``httpx.Auth`` for service tokens: one flow, driven by a sync and an async shell.

:meth:`TokenAuth._flow` is the protocol written once (as in ``httpx/_auth.py``):
it asks for a token, sends the request with ``Authorization: Bearer ...``, and
after a 401 from the API it drops that token and retries once with a fresh one -
for idempotent methods with a replayable body only.  Getting the token is I/O
against the issuer, so the flow *yields* a token request and the sync shell
answers with :meth:`TokenClient.get_token`, the async shell with
:meth:`TokenClient.get_token_async`.  A request is never sent without a token:
if none can be had, the :class:`~okta_guard.errors.TokenRequestError` propagates.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from .models import ServiceToken

if TYPE_CHECKING:
    from .client import TokenClient

__all__ = ["IDEMPOTENT_METHODS", "TokenAuth"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


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

    def __init__(self, client: TokenClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"TokenAuth({self._client!r})"

    @staticmethod
    def _replayable(request: httpx.Request) -> bool:
        return request.method.upper() in IDEMPOTENT_METHODS and isinstance(
            request.stream, httpx.ByteStream
        )

    def _flow(self, request: httpx.Request) -> Generator[_Step, _Reply, None]:
        token = yield _NEED_TOKEN
        assert isinstance(token, ServiceToken)
        request.headers["Authorization"] = token.authorization
        replayable = self._replayable(request)  # before sending: sending may buffer a stream
        response = yield request
        assert isinstance(response, httpx.Response)
        if response.status_code != 401 or not replayable:
            return
        # The API refused this token (revoked, keys rotated, ...): drop it, unless another
        # caller has already replaced it, and try once more with a fresh one.
        self._client.invalidate(token)
        fresh = yield _NEED_TOKEN
        assert isinstance(fresh, ServiceToken)
        request.headers["Authorization"] = fresh.authorization
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
