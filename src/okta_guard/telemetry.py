"""OpenTelemetry spans and metrics for okta-guard (the ``otel`` extra), free without it.

Nothing here imports OpenTelemetry until the first outbound call or
:func:`configure`; when ``opentelemetry-api`` is not installed (or after
:func:`disable`) every hook is a shared no-op object.  By default the global
tracer and meter providers are used (so an SDK configured by the application
picks okta-guard up); :func:`configure` takes explicit providers (tests, custom
pipelines).

What is recorded (``docs/telemetry.md`` has the full table):

* a ``CLIENT`` span around every outbound call - discovery, key set, token,
  introspection - with the standard HTTP attributes (``http.request.method``,
  ``url.full``, ``server.address``, ``server.port``, ``http.response.status_code``,
  ``error.type``) and ``okta_guard.call``; never a token, secret or request body;
* the ``http.client.request.duration`` histogram (seconds) for the same calls;
* counters ``okta_guard.token.requests``, ``okta_guard.retries``,
  ``okta_guard.rate_limit.waits`` and ``okta_guard.introspection.calls``;
* observable counters read from the verifiers' own plain-integer counters at
  collection time - ``okta_guard.verifications`` (by outcome and reason),
  ``okta_guard.verdict_cache.hits``, ``okta_guard.keys.fetches``,
  ``okta_guard.keys.fetch_failures``, ``okta_guard.keys.stale_serves``,
  ``okta_guard.introspection.cache_hits`` and ``okta_guard.introspection.fallbacks``
  - so the cached-token hot path pays nothing at all for telemetry.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "configure",
    "disable",
    "enabled",
    "outbound",
    "record",
    "watch_router",
    "watch_verifier",
]

#: Instrumentation scope name.
SCOPE = "okta_guard"

_lock = threading.Lock()
_state: _Telemetry | None = None
_resolved = False  # whether _state reflects the configuration (auto-detection done)
_verifiers: weakref.WeakSet[Any] = weakref.WeakSet()
_routers: weakref.WeakSet[Any] = weakref.WeakSet()  # MultiIssuerVerifier: unknown issuers

# Reasons whose refusal is a 503 (the verifier could not decide), for the outcome label.
_COUNTER_HELP = {
    "okta_guard.token.requests": "Token endpoint requests, by HTTP status or error type",
    "okta_guard.retries": "Outbound requests retried after a failure, by call",
    "okta_guard.rate_limit.waits": "Waits imposed by an Okta 429 (X-Rate-Limit-Reset)",
    "okta_guard.introspection.calls": "Introspection requests, by HTTP status or error type",
}


class _NoSpan:
    """The shared do-nothing span of a disabled telemetry."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def done(self, status: int, error: str | None = None) -> None:
        """Record the outcome (nothing to do)."""


_NO_SPAN = _NoSpan()


class _Span:
    """One outbound call: a CLIENT span plus the duration histogram and counters."""

    __slots__ = ("_attrs", "_error", "_kind", "_span", "_start", "_status", "_tel")

    def __init__(self, tel: _Telemetry, kind: str, method: str, url: str) -> None:
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

    def __enter__(self) -> _Span:
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
            _log_failure()

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


class _Telemetry:
    """The live instruments (built once per configuration)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.metrics import CallbackOptions, Observation
        from opentelemetry.trace import SpanKind, StatusCode

        self._observation = Observation
        version = _version()
        self.tracer = trace.get_tracer(SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, version, meter_provider=meter_provider)
        self.span_kind = SpanKind.CLIENT
        self.status_error = StatusCode.ERROR
        self.duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of okta-guard's outbound HTTP requests",
            explicit_bucket_boundaries_advisory=[
                0.005,
                0.01,
                0.025,
                0.05,
                0.075,
                0.1,
                0.25,
                0.5,
                0.75,
                1,
                2.5,
                5,
                7.5,
                10,
            ],
        )
        self.counters = {
            name: meter.create_counter(name, unit="{request}", description=text)
            for name, text in _COUNTER_HELP.items()
        }
        self.call_counters = {
            "token": self.counters["okta_guard.token.requests"],
            "introspection": self.counters["okta_guard.introspection.calls"],
        }

        def observe(
            read: Any, name: str
        ) -> Any:  # one callback per instrument, reading the watched verifiers
            def callback(options: CallbackOptions) -> Iterable[Observation]:
                rows = [
                    Observation(value, attrs)
                    for verifier in list(_verifiers)
                    for value, attrs in read(verifier)
                ]
                if name == "okta_guard.verifications":
                    rows.extend(
                        Observation(value, attrs)
                        for router in list(_routers)
                        for value, attrs in _read_unknown_issuers(router)
                    )
                return rows

            callback.__name__ = name
            return callback

        for name, read, text in _OBSERVED:
            meter.create_observable_counter(
                name, callbacks=[observe(read, name)], unit="1", description=text
            )

    def outbound(self, kind: str, method: str, url: str) -> _Span:
        return _Span(self, kind, method, url)


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


def _log_failure() -> None:
    logging.getLogger("okta_guard.telemetry").debug(
        "okta-guard: recording telemetry failed", exc_info=True
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("okta-guard")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"


# -- what the observable counters read ---------------------------------------------------


def _issuer(verifier: Any) -> dict[str, str]:
    return {"okta_guard.issuer": str(verifier.issuer)}


def _read_verifications(verifier: Any) -> list[tuple[int, dict[str, str]]]:
    stats = verifier.stats
    statuses = verifier.reason_statuses
    rows = []
    for reason, count in stats.verdicts.items():
        if reason == "ok":
            outcome = "accepted"
        else:
            outcome = "unavailable" if statuses.get(reason, 401) >= 500 else "refused"
        attrs = {**_issuer(verifier), "okta_guard.outcome": outcome}
        if reason != "ok":
            attrs["okta_guard.reason"] = reason
        rows.append((count, attrs))
    return rows


def _read_unknown_issuers(router: Any) -> list[tuple[int, dict[str, str]]]:
    attrs = {
        "okta_guard.issuers": ",".join(router.issuers),
        "okta_guard.outcome": "refused",
        "okta_guard.reason": "unknown_issuer",
    }
    return [(int(router.unknown_issuers), attrs)]


def _stat(field: str) -> Any:
    def read(verifier: Any) -> list[tuple[int, dict[str, str]]]:
        return [(int(getattr(verifier.stats, field)), _issuer(verifier))]

    return read


def _revocation(field: str) -> Any:
    def read(verifier: Any) -> list[tuple[int, dict[str, str]]]:
        check = verifier.revocation
        if check is None:
            return []
        return [(int(getattr(check.stats, field)), _issuer(verifier))]

    return read


_OBSERVED = (
    ("okta_guard.verifications", _read_verifications, "Token verifications by outcome, reason"),
    ("okta_guard.verdict_cache.hits", _stat("cache_hits"), "Tokens answered from the cache"),
    ("okta_guard.keys.fetches", _stat("fetches"), "Key set fetches"),
    ("okta_guard.keys.fetch_failures", _stat("fetch_failures"), "Failed key set fetches"),
    ("okta_guard.keys.stale_serves", _stat("stale_serves"), "Keys used past their lifetime"),
    (
        "okta_guard.introspection.cache_hits",
        _revocation("cache_hits"),
        "Introspection answers reused from the cache",
    ),
    (
        "okta_guard.introspection.fallbacks",
        _revocation("fallbacks"),
        "Old introspection answers used while Okta was unreachable",
    ),
)


# -- public hooks -------------------------------------------------------------------------


def _current() -> _Telemetry | None:
    global _state, _resolved
    if _resolved:
        return _state
    with _lock:
        if not _resolved:
            try:
                _state = _Telemetry()
            except ImportError:
                _state = None
            _resolved = True
    return _state


def configure(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Record okta-guard's spans and metrics with these providers (default: the global ones).

    Raises ``ImportError`` with the fix when ``opentelemetry-api`` is not installed.
    """
    global _state, _resolved
    try:
        state = _Telemetry(tracer_provider, meter_provider)
    except ImportError:
        raise ImportError(
            "okta-guard telemetry needs OpenTelemetry: pip install 'okta-guard[otel]'"
        ) from None
    with _lock:
        _state, _resolved = state, True


def disable() -> None:
    """Record nothing (every hook becomes a no-op)."""
    global _state, _resolved
    with _lock:
        _state, _resolved = None, True


def enabled() -> bool:
    """Whether spans and metrics are being recorded."""
    return _current() is not None


def outbound(kind: str, method: str, url: str) -> _Span | _NoSpan:
    """A context manager around one outbound HTTP call (``kind``: ``discovery``, ``keys``,
    ``token`` or ``introspection``); call ``.done(status, error_type)`` inside it."""
    state = _current()
    if state is None:
        return _NO_SPAN
    try:
        return state.outbound(kind, method, url)
    except Exception:  # telemetry never breaks (or changes) an outbound call
        _log_failure()
        return _NO_SPAN


def record(name: str, attributes: dict[str, Any] | None = None) -> None:
    """Add one to counter ``name`` (``okta_guard.retries`` ...), if recording."""
    state = _state if _resolved else _current()
    if state is None:
        return
    counter = state.counters.get(name)
    if counter is not None:
        try:
            counter.add(1, attributes or {})
        except Exception:
            _log_failure()


def watch_verifier(verifier: Any) -> None:
    """Report ``verifier``'s counters as observable metrics (held weakly; no per-request cost)."""
    _verifiers.add(verifier)


def watch_router(router: Any) -> None:
    """Report a ``MultiIssuerVerifier``'s refusals of unknown issuers (held weakly)."""
    _routers.add(router)
