"""The span of one outbound call: a CLIENT span, the duration histogram, the call counter.

Attributes follow OpenTelemetry's HTTP client conventions (``http.request.method``,
``url.full`` without query, fragment or credentials, ``server.address``,
``server.port``, ``http.response.status_code``, ``error.type``) plus
``okta_guard.call``; never a token, secret or request body.  Recording never changes
the call: an exporter or SDK failure is logged at DEBUG and swallowed.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, urlsplit

from okta_guard.telemetry.instruments import Instruments

__all__ = ["NO_SPAN", "NoSpan", "OutboundSpan", "log_failure"]


def log_failure() -> None:
    """Log (at DEBUG) that recording telemetry failed; the call goes on."""
    logging.getLogger("okta_guard.telemetry").debug(
        "okta-guard: recording telemetry failed", exc_info=True
    )


class NoSpan:
    """The shared do-nothing span of a disabled telemetry."""

    __slots__ = ()

    def __enter__(self) -> NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def done(self, status: int, error: str | None = None) -> None:
        """Record the outcome (nothing to do)."""


NO_SPAN = NoSpan()


class OutboundSpan:
    """One outbound call: a CLIENT span plus the duration histogram and counters."""

    __slots__ = ("_attrs", "_error", "_kind", "_span", "_start", "_status", "_tel")

    def __init__(self, tel: Instruments, kind: str, method: str, url: str) -> None:
        self._tel = tel
        self._kind = kind
        parts = urlsplit(url)
        self._attrs: dict[str, Any] = {
            "http.request.method": method,
            "server.address": parts.hostname or "",
            "server.port": _port(parts),
            "okta_guard.call": kind,
        }
        self._span = tel.tracer.start_span(
            f"{method} {parts.path or '/'}",
            kind=tel.span_kind,
            attributes={**self._attrs, "url.full": _safe_url(parts)},
        )
        self._status = 0
        self._error: str | None = None
        self._start = time.perf_counter()

    def __enter__(self) -> OutboundSpan:
        return self

    def done(self, status: int, error: str | None = None) -> None:
        """Record the HTTP status (0 when there was no answer) and the error type, if any."""
        self._status, self._error = status, error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._end(exc_type)
        except Exception:  # an exporter or SDK failure never changes the call's outcome
            log_failure()

    def _end(self, exc_type: type[BaseException] | None) -> None:
        elapsed = time.perf_counter() - self._start
        attrs = dict(self._attrs)
        error = self._error
        if exc_type is not None and error is None:
            error = exc_type.__qualname__
        if self._status:
            attrs["http.response.status_code"] = self._status
            if error is None and self._status >= 400:
                error = str(self._status)
        if error is not None:
            attrs["error.type"] = error
        span = self._span
        for name in ("http.response.status_code", "error.type"):
            if name in attrs:
                span.set_attribute(name, attrs[name])
        if error is not None:
            span.set_status(self._tel.status_error, error)
        span.end()
        tel = self._tel
        tel.duration.record(elapsed, attrs)
        counter = tel.call_counters.get(self._kind)
        if counter is not None:
            counter.add(1, attrs)


def _port(parts: SplitResult) -> int:
    """The port of a URL, its scheme's default when absent or not a valid port."""
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: httpx refuses the URL itself
        port = None
    return port or (443 if parts.scheme == "https" else 80)


def _safe_url(parts: SplitResult) -> str:
    """``url.full`` as OpenTelemetry wants it: no query, no fragment, credentials redacted."""
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc, query="", fragment="").geturl()
