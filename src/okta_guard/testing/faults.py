"""Fault injection for the mock issuer: ``fail_next`` queues and the outage switch.

A :class:`Fault` replaces (or, with ``status=None``, only delays) the answer of an
endpoint.  Faults without an explicit body get the body Okta would send for
that status, so clients see realistic errors.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bodyfaults import check_body_faults, make_bomb, patch_keys
from .records import (
    MockResponse,
    check_endpoint,
    json_response,
    oauth_error,
    okta_api_error,
)

__all__ = ["Fault", "FaultInjection", "FaultPlan", "rate_limited_response"]

_OAUTH_ENDPOINTS = frozenset({"token", "introspect", "revoke"})
_OAUTH_DEFAULTS = {
    400: ("invalid_request", "The request is invalid."),
    401: ("invalid_client", "Client authentication failed."),
    403: ("access_denied", "The request was denied."),
}
RATE_LIMIT_SUMMARY = "You exceeded the maximum number of requests. Try again in a while."


def rate_limited_response(headers: Mapping[str, str]) -> MockResponse:
    """Okta's 429 answer: ``E0000047`` body plus the given rate-limit headers."""
    return okta_api_error(429, "E0000047", RATE_LIMIT_SUMMARY, headers)


@dataclass
class Fault:
    """One injected failure (or delay, or misbehaving body) for an endpoint.

    ``status=None`` keeps the normal answer; ``drip``, ``stall``, ``bomb`` and
    ``keys_patch`` then change how it is sent (see :meth:`FaultInjection.fail_next`).
    """

    endpoint: str
    status: int | None = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    disconnect: bool = False
    server_id: str | None = None
    remaining: int = 1
    drip: float = 0.0
    stall: bool = False
    bomb: int | None = None
    encoding: str = "gzip"
    keys_patch: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_body_faults(
            self.endpoint,
            delay=self.delay,
            disconnect=self.disconnect,
            drip=self.drip,
            stall=self.stall,
            bomb=self.bomb,
            encoding=self.encoding,
            keys_patch=self.keys_patch,
        )

    def matches(self, endpoint: str, server_id: str | None) -> bool:
        """Whether this fault applies to a request for ``endpoint`` on ``server_id``."""
        if self.endpoint not in ("*", endpoint):
            return False
        return self.server_id is None or self.server_id == server_id

    def response(self, endpoint: str, now: float, limit: int | None = None) -> MockResponse | None:
        """The response this fault answers with (``None``: answer normally, then :meth:`shape`).

        A 429 without a body reports ``limit`` (default 600) with nothing remaining
        until the next minute; pass ``X-Rate-Limit-Limit: 0`` in ``headers`` for
        Okta's concurrency-limit shape (limit = remaining = 0).
        """
        if self.status is None:
            return None
        status = self.status
        if self.body is not None:
            if isinstance(self.body, bytes | str):
                raw = self.body.encode() if isinstance(self.body, str) else self.body
                hdrs = {"content-type": "text/plain; charset=utf-8"}
                hdrs.update({k.lower(): v for k, v in self.headers.items()})
                return MockResponse(status, hdrs, raw)
            return json_response(status, json.loads(json.dumps(self.body)), self.headers)
        if status == 429:
            reset = int(now // 60 * 60 + 60)
            headers = {
                "x-rate-limit-limit": str(600 if limit is None else limit),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            }
            headers.update({k.lower(): v for k, v in self.headers.items()})
            return rate_limited_response(headers)
        if endpoint in _OAUTH_ENDPOINTS and status in _OAUTH_DEFAULTS:
            error, description = _OAUTH_DEFAULTS[status]
            return oauth_error(status, error, description, self.headers)
        if status >= 500:
            return okta_api_error(status, "E0000009", "Internal Server Error", self.headers)
        return okta_api_error(status, "E0000001", "Api validation failed", self.headers)

    def shape(self, response: MockResponse, endpoint: str) -> MockResponse:
        """Apply this fault's delay, disconnect and body faults to ``response``."""
        if self.status is None and self.headers:
            response.headers.update({k.lower(): v for k, v in self.headers.items()})
        if self.keys_patch is not None and endpoint == "keys" and response.status == 200:
            patch_keys(response, self.keys_patch)
        if self.bomb is not None:
            make_bomb(response, self.bomb, self.encoding)
        response.delay = max(response.delay, self.delay)
        response.disconnect = response.disconnect or self.disconnect
        response.drip = self.drip or response.drip
        response.stall = self.stall or response.stall
        return response


class FaultPlan:
    """The pending ``fail_next`` faults and the current outage, thread-safe."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._outage: Fault | None = None
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` for its next ``fault.remaining`` matching requests."""
        check_endpoint(fault.endpoint)
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append(fault)

    def set_outage(self, fault: Fault | None) -> None:
        """Start (a fault) or end (``None``) a sustained outage."""
        if fault is not None:
            check_endpoint(fault.endpoint)
        with self._lock:
            self._outage = fault

    @property
    def outage(self) -> Fault | None:
        """The current outage, if any."""
        return self._outage

    def pending(self) -> int:
        """How many injected failures are still queued."""
        with self._lock:
            return sum(f.remaining for f in self._queue)

    def clear(self) -> None:
        """Drop every queued fault and end any outage."""
        with self._lock:
            self._queue.clear()
            self._outage = None

    def take(self, endpoint: str, server_id: str | None) -> Fault | None:
        """The fault that applies to this request, consuming one use of a queued one."""
        with self._lock:
            outage = self._outage
            if outage is not None and outage.matches(endpoint, server_id):
                return outage
            for fault in self._queue:
                if fault.matches(endpoint, server_id):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    return fault
        return None


_UNSET: Any = object()


def _status(status: Any, body_fault: bool) -> int | None:
    """``status`` as given, else 503 (or the normal answer when only the body misbehaves)."""
    if status is _UNSET:
        return None if body_fault else 503
    return None if status is None else int(status)


class FaultInjection:
    """The fault-injection methods of :class:`~okta_guard.testing.MockIssuer`."""

    _faults: FaultPlan

    def fail_next(
        self,
        endpoint: str,
        status: int | None = _UNSET,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        disconnect: bool = False,
        server: str | None = None,
        drip: float = 0.0,
        stall: bool = False,
        bomb: int | None = None,
        encoding: str = "gzip",
        keys_patch: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` fail.

        ``endpoint`` is ``"metadata"``, ``"keys"``, ``"token"``, ``"introspect"``,
        ``"revoke"`` or ``"*"``.  ``status`` defaults to 503; without ``body`` the
        answer is Okta's body for ``status`` (429: ``E0000047`` plus rate-limit
        headers).  ``body`` may be a dict (JSON), ``str`` or ``bytes``.
        ``status=None`` answers normally (plus ``headers``) after ``delay`` seconds
        (a real wait).  ``disconnect`` drops the connection instead of answering.
        ``server`` limits it to one server.

        Misbehaving bodies (``status`` then defaults to the normal answer):
        ``drip=SECONDS`` sends the headers with the full ``Content-Length``, then
        the body one byte every ``SECONDS``; ``stall=True`` sends the headers and
        then nothing until the client hangs up; ``bomb=N`` sends a small
        ``encoding`` (``"gzip"`` or ``"deflate"``) body that inflates to ``N``
        bytes (the answer padded with JSON whitespace); ``keys_patch={...}``
        merges these members into every key of a ``/v1/keys`` answer (a value of
        :data:`~okta_guard.testing.OMIT` removes the member).
        """
        body_fault = bool(drip or stall or bomb is not None or keys_patch is not None)
        self._faults.add(
            Fault(
                endpoint,
                _status(status, body_fault),
                dict(headers or {}),
                body,
                delay,
                disconnect,
                server,
                times,
                drip,
                stall,
                bomb,
                encoding,
                keys_patch,
            )
        )

    def start_outage(
        self,
        endpoint: str = "*",
        status: int | None = _UNSET,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        disconnect: bool = False,
        server: str | None = None,
        drip: float = 0.0,
        stall: bool = False,
        bomb: int | None = None,
        encoding: str = "gzip",
        keys_patch: Mapping[str, Any] | None = None,
    ) -> None:
        """Fail every request to ``endpoint`` (default all) until :meth:`end_outage`.

        Takes the arguments of :meth:`fail_next` except ``times``.
        """
        body_fault = bool(drip or stall or bomb is not None or keys_patch is not None)
        fault = Fault(
            endpoint,
            _status(status, body_fault),
            dict(headers or {}),
            body,
            delay,
            disconnect,
            server,
            1,
            drip,
            stall,
            bomb,
            encoding,
            keys_patch,
        )
        self._faults.set_outage(fault)

    def end_outage(self) -> None:
        """End the outage started by :meth:`start_outage`."""
        self._faults.set_outage(None)

    @contextlib.contextmanager
    def outage(
        self, endpoint: str = "*", status: int | None = _UNSET, **kwargs: Any
    ) -> Iterator[None]:
        """``with okta.outage("keys"):`` — a sustained outage for the block."""
        self.start_outage(endpoint, status, **kwargs)
        try:
            yield
        finally:
            self.end_outage()
