"""The request/response vocabulary of the sans-IO flows, and the one driver pair that runs them.

The decisions about talking to the issuer (which metadata document to ask for, when to
retry a token request and how long to wait first) are generators - *flows* - that yield
an :class:`HttpRequest` or a :class:`Sleep` and receive an :class:`HttpResponse` (or
``None`` after a sleep).  They do no I/O.  :func:`drive` runs a flow with a blocking
``send`` function, :func:`drive_async` with an awaitable one; the key cache
(:mod:`okta_guard.verify.key_cache`) and the token client (:mod:`okta_guard.call.client`)
both use this pair, and the httpx shells that perform one request live in
:mod:`okta_guard._http`.

The drivers own the *total deadline* of a flow: ``send`` receives the
:class:`Deadline` and must not outlast it, a :class:`Sleep` is cut short at it, and
once it has passed every further request is answered at once with
``HttpResponse(0, error="deadline")`` - so a flow always ends, with a failure, by its
deadline, whatever the network does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar, Union

from okta_guard import telemetry

__all__ = [
    "Deadline",
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "Sleep",
    "call_kind",
    "drive",
    "drive_async",
    "expect_response",
]

T = TypeVar("T")


@dataclass(frozen=True)
class HttpRequest:
    """A request a flow wants performed (a GET unless ``method`` says otherwise).

    ``form`` is an ``application/x-www-form-urlencoded`` body as ordered pairs.
    ``max_bytes`` bounds the decoded response body (``None``: the shell's default).
    """

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    form: tuple[tuple[str, str], ...] | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class HttpResponse:
    """What the driver got back.

    ``error`` is set when no complete response arrived - ``"timeout"``, ``"network"``,
    ``"too_large"`` (the body, decoded, exceeded the cap), ``"encoding"`` (an unsupported
    or corrupt ``Content-Encoding``) or ``"deadline"`` (the flow's total deadline passed)
    - and ``status`` is then 0.  ``detail`` is a short, safe description of a transport
    failure for messages (never a body, a token or a secret).
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Sleep:
    """An instruction of a flow to its driver: wait ``seconds`` (the flow then gets ``None``)."""

    seconds: float


Step: TypeAlias = Union[HttpRequest, Sleep]  # noqa: UP007
Flow: TypeAlias = Generator[Step, Union[HttpResponse, None], T]  # noqa: UP007

DEADLINE_PASSED = HttpResponse(0, error="deadline", detail="the total deadline passed")


class Deadline:
    """A point in monotonic time by which a flow (or a wait) must be over."""

    __slots__ = ("_at", "_clock", "seconds")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self._at - self._clock())

    def expired(self) -> bool:
        """Tell whether the deadline has passed."""
        return self._clock() >= self._at

    def expire(self) -> None:
        """Give up: make the deadline pass now (used when a wait cannot fit)."""
        self._at = min(self._at, self._clock())


def call_kind(request: HttpRequest) -> str:
    """What an outbound request is, for telemetry: ``discovery``, ``keys``, ``token`` or
    ``introspection`` (from its method, URL and form field names - never their values)."""
    if request.method == "GET":
        return "discovery" if "/.well-known/" in request.url else "keys"
    names = {name for name, _ in request.form or ()}
    if "grant_type" in names:
        return "token"
    if "token" in names:
        return "introspection" if request.url.endswith("/introspect") else "revocation"
    return "other"


def _count_wait(step: HttpRequest | None, reply: HttpResponse | None) -> None:
    """Telemetry: a sleep after a failed request is a retry; after a 429, a rate-limit wait."""
    if step is None:
        return
    attrs = {"okta_guard.call": call_kind(step)}
    telemetry.record("okta_guard.retries", attrs)
    if reply is not None and reply.status == 429:
        telemetry.record("okta_guard.rate_limit.waits", attrs)


def drive(
    flow: Flow[T],
    send: Callable[[HttpRequest, Deadline], HttpResponse],
    *,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``flow`` to its end with the blocking ``send`` within ``deadline``; return its result."""
    reply: HttpResponse | None = None
    sent: HttpRequest | None = None
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                _count_wait(sent, reply)
                reply = None
                if step.seconds >= deadline.remaining():
                    deadline.expire()  # the wait cannot fit: the next request fails at once
                elif step.seconds > 0:
                    sleep(step.seconds)
            elif deadline.expired():
                reply = DEADLINE_PASSED
            else:
                sent = step
                reply = send(step, deadline)
                if reply.error is not None and deadline.expired():
                    reply = DEADLINE_PASSED
            step = flow.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(
    flow: Flow[T],
    send: Callable[[HttpRequest, Deadline], Awaitable[HttpResponse]],
    *,
    deadline: Deadline,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``flow`` to its end with the awaitable ``send``, within ``deadline``.

    Each ``send`` is also cancelled when the deadline passes, so no read of a
    slow body can outlast it.
    """
    reply: HttpResponse | None = None
    sent: HttpRequest | None = None
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                _count_wait(sent, reply)
                reply = None
                if step.seconds >= deadline.remaining():
                    deadline.expire()
                elif step.seconds > 0:
                    await sleep(step.seconds)
            elif deadline.expired():
                reply = DEADLINE_PASSED
            else:
                sent = step
                try:
                    reply = await asyncio.wait_for(send(step, deadline), deadline.remaining())
                except asyncio.TimeoutError:
                    reply = DEADLINE_PASSED
                if reply.error is not None and deadline.expired():
                    reply = DEADLINE_PASSED
            step = flow.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def expect_response(reply: HttpResponse | None) -> HttpResponse:
    """The reply to a request step (a flow that never sleeps always gets one)."""
    if reply is None:  # pragma: no cover - a driver bug
        raise TypeError("a request step must be answered with an HttpResponse")
    return reply
