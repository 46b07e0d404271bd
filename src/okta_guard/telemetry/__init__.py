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

import threading
from typing import Any

from okta_guard.telemetry import observed
from okta_guard.telemetry.instruments import Instruments
from okta_guard.telemetry.spans import NO_SPAN, NoSpan, OutboundSpan, log_failure

__all__ = [
    "configure",
    "disable",
    "enabled",
    "outbound",
    "record",
    "watch_router",
    "watch_verifier",
]

_lock = threading.Lock()
_state: Instruments | None = None
_resolved = False  # whether _state reflects the configuration (auto-detection done)


# -- public hooks -------------------------------------------------------------------------


def _current() -> Instruments | None:
    global _state, _resolved
    if _resolved:
        return _state
    with _lock:
        if not _resolved:
            try:
                _state = Instruments()
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
        state = Instruments(tracer_provider, meter_provider)
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


def outbound(kind: str, method: str, url: str) -> OutboundSpan | NoSpan:
    """A context manager around one outbound HTTP call (``kind``: ``discovery``, ``keys``,
    ``token`` or ``introspection``); call ``.done(status, error_type)`` inside it."""
    state = _current()
    if state is None:
        return NO_SPAN
    try:
        return OutboundSpan(state, kind, method, url)
    except Exception:  # telemetry never breaks (or changes) an outbound call
        log_failure()
        return NO_SPAN


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
            log_failure()


def watch_verifier(verifier: Any) -> None:
    """Report ``verifier``'s counters as observable metrics (held weakly; no per-request cost)."""
    observed.verifiers.add(verifier)


def watch_router(router: Any) -> None:
    """Report a ``MultiIssuerVerifier``'s refusals of unknown issuers (held weakly)."""
    observed.routers.add(router)
