"""The cached-token hot path with telemetry off and on (OpenTelemetry SDK recording).

Raw ASGI calls with :func:`bench.bench_middleware.drive` into the benchmark app of
:mod:`bench.bench_middleware` (``OktaGuardMiddleware`` + ``require_scopes``, the same
valid token every time), and the unprotected app as the yardstick.  Telemetry is one
process-wide switch, so the rounds alternate: ``off`` (:func:`okta_guard.telemetry.disable`)
and ``on`` (:func:`okta_guard.telemetry.configure` with an SDK ``TracerProvider`` and a
``MeterProvider`` whose reader is collected after every round, so the observable
counters' callbacks run too).  Best run per row, and the median of the per-round
ratios to the unprotected app measured in the same mode and round.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from typing import Any

from bench.bench_middleware import build_app, drive
from okta_guard import telemetry
from okta_guard.testing import MockIssuer

ROUNDS = 21
REQUESTS = 2000


def _providers() -> tuple[Any, Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    reader = InMemoryMetricReader()
    return TracerProvider(), MeterProvider(metric_readers=[reader]), reader


async def _measure(apps: dict[str, Any], token: str) -> dict[str, list[float]]:
    tracer_provider, meter_provider, reader = _providers()
    samples: dict[str, list[float]] = {}
    for app in apps.values():
        await drive(app, token, 50)
    gc.collect()
    for _ in range(ROUNDS):
        for mode in ("off", "on"):
            if mode == "on":
                telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
            else:
                telemetry.disable()
            for name, app in apps.items():
                gc.disable()
                try:
                    seconds = await drive(app, token, REQUESTS)
                finally:
                    gc.enable()
                samples.setdefault(f"{name}, telemetry {mode}", []).append(seconds)
            if mode == "on":
                reader.get_metrics_data()  # the observable counters' callbacks run here
    telemetry.disable()
    return samples


def main() -> None:
    """Print microseconds per request with telemetry off and on, and the paired ratios."""
    with MockIssuer() as okta:
        token = okta.mint_token(scopes=["orders:read"], client_id="bench")
        apps = {
            "unprotected": build_app("unprotected"),
            "okta-guard": _plain_app(okta),
        }
        samples = asyncio.run(_measure(apps, token))
    print(f"raw ASGI calls, {REQUESTS} requests x {ROUNDS} alternating rounds:")
    print(f"  {'app':<32} {'best us/request':>16} {'median paired vs unprotected':>30}")
    for name, values in samples.items():
        mode = name.rsplit(" ", 1)[1]
        base = samples[f"unprotected, telemetry {mode}"]
        paired = statistics.median(a / b for a, b in zip(values, base, strict=True))
        print(f"  {name:<32} {min(values) * 1e6:>16.2f} {paired:>29.2f}x")
    guard_on_off = statistics.median(
        a / b
        for a, b in zip(
            samples["okta-guard, telemetry on"], samples["okta-guard, telemetry off"], strict=True
        )
    )
    print(f"  okta-guard with telemetry on / off, same round (median): {guard_on_off:.3f}x")


def _plain_app(okta: MockIssuer) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    from bench.bench_middleware import AUDIENCE, orders
    from okta_guard import OktaGuardMiddleware, TokenVerifier, require_scopes

    verifier = TokenVerifier(okta.issuer, AUDIENCE)
    return Starlette(
        routes=[Route("/orders", require_scopes("orders:read")(orders))],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier)],
    )


if __name__ == "__main__":
    main()
