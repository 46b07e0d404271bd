"""The cached-token hot path with telemetry off and on (OpenTelemetry SDK recording).

Raw ASGI calls with :func:`bench.bench_middleware.drive` into the benchmark app of
:mod:`bench.bench_middleware` (``OktaGuardMiddleware`` + ``require_scopes``, the same
valid token every time), and the unprotected app as the yardstick.  Telemetry is one
process-wide switch, so the rounds alternate: ``off`` (:func:`okta_guard.telemetry.disable`)
and ``on`` (:func:`okta_guard.telemetry.configure` with an SDK ``TracerProvider`` and a
``MeterProvider`` whose reader is collected after every round, so the observable
counters' callbacks run too).  Best run per row; ratios to the unprotected app.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from bench.bench_middleware import build_app, drive
from okta_guard import telemetry
from okta_guard.testing import MockIssuer

ROUNDS = 15
REQUESTS = 2000


def _providers() -> tuple[Any, Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    reader = InMemoryMetricReader()
    return TracerProvider(), MeterProvider(metric_readers=[reader]), reader


async def _measure(apps: dict[str, Any], token: str) -> dict[str, float]:
    tracer_provider, meter_provider, reader = _providers()
    best: dict[str, float] = {}
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
                key = f"{name}, telemetry {mode}"
                best[key] = min(best.get(key, seconds), seconds)
            if mode == "on":
                reader.get_metrics_data()  # the observable counters' callbacks run here
    telemetry.disable()
    return best


def main() -> None:
    """Print microseconds per request with telemetry off and on."""
    with MockIssuer() as okta:
        token = okta.mint_token(scopes=["orders:read"], client_id="bench")
        apps = {
            "unprotected": build_app("unprotected"),
            "okta-guard": _plain_app(okta),
        }
        best = asyncio.run(_measure(apps, token))
    base = best["unprotected, telemetry off"]
    print(f"raw ASGI calls, {REQUESTS} requests x {ROUNDS} alternating rounds (best run):")
    print(f"  {'app':<32} {'us/request':>12} {'vs unprotected':>16}")
    for name, seconds in best.items():
        print(f"  {name:<32} {seconds * 1e6:>12.2f} {seconds / base:>15.2f}x")
    off = best["okta-guard, telemetry off"] - best["unprotected, telemetry off"]
    on = best["okta-guard, telemetry on"] - best["unprotected, telemetry on"]
    print(f"  protection cost: {off * 1e6:.2f} us off, {on * 1e6:.2f} us on ({on / off:.2f}x)")


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
