"""The live OpenTelemetry instruments, built once per configuration.

Importing this module imports nothing of OpenTelemetry; building :class:`Instruments`
does, and raises ``ImportError`` when ``opentelemetry-api`` is not installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from okta_guard.telemetry.observed import OBSERVED, routers, unknown_issuer_rows, verifiers

__all__ = ["COUNTER_HELP", "SCOPE", "Instruments"]

#: Instrumentation scope name.
SCOPE = "okta_guard"

#: The counters recorded as things happen (the rest are observed at collection time).
COUNTER_HELP = {
    "okta_guard.token.requests": "Token endpoint requests, by HTTP status or error type",
    "okta_guard.retries": "Outbound requests retried after a failure, by call",
    "okta_guard.rate_limit.waits": "Waits imposed by an Okta 429 (X-Rate-Limit-Reset)",
    "okta_guard.introspection.calls": "Introspection requests, by HTTP status or error type",
}


class Instruments:
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
            for name, text in COUNTER_HELP.items()
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
                    for verifier in list(verifiers)
                    for value, attrs in read(verifier)
                ]
                if name == "okta_guard.verifications":
                    rows.extend(
                        Observation(value, attrs)
                        for router in list(routers)
                        for value, attrs in unknown_issuer_rows(router)
                    )
                return rows

            callback.__name__ = name
            return callback

        for name, read, text in OBSERVED:
            meter.create_observable_counter(
                name, callbacks=[observe(read, name)], unit="1", description=text
            )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("okta-guard")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "unknown"
