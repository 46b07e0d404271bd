"""Cost per request of introspecting routes: with the answer cache, and without it.

Raw ASGI calls (the driver of :mod:`bench.bench_middleware`) into one Starlette app
behind ``OktaGuardMiddleware``, the same valid token every time:

* ``local only``        ``@require_scopes("orders:read")`` (the cached local verdict);
* ``introspect cached`` ``@require_scopes("orders:read", introspect=True)``, default
                        30 s answer cache (the steady state: a hash and a store lookup);
* ``introspect always`` the same route on a verifier with ``introspection_cache_ttl=0``:
                        one ``/v1/introspect`` round trip per request to the mock Okta
                        on a loopback socket (keep-alive).

Rounds interleaved; best run per route and the median of its per-round ratios to
``local only`` (robust to the machine's load).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.bench_middleware import drive
from okta_guard import IntrospectionClient, OktaGuardMiddleware, TokenVerifier, require_scopes
from okta_guard.testing import MockIssuer

SECRET = "bench-introspection-secret-" + "x" * 20
ROUNDS = 11
REQUESTS = {"local only": 2000, "introspect cached": 2000, "introspect always": 200}


async def orders(request: Request) -> Response:
    return JSONResponse({"orders": [1, 2, 3]})


def _app(okta: MockIssuer, *, cache_ttl: float, introspect: bool) -> Starlette:
    introspection = IntrospectionClient(
        okta.issuer,
        "introspector",
        SECRET,
        http_client=httpx.Client(),
        async_http_client=httpx.AsyncClient(),
    )
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        introspection=introspection,
        introspection_cache_ttl=cache_ttl,
    )
    endpoint = require_scopes("orders:read", introspect=introspect)(orders)
    return Starlette(
        routes=[Route("/orders", endpoint)],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier)],
    )


async def _measure(apps: dict[str, Any], token: str) -> dict[str, list[float]]:
    for app in apps.values():
        await drive(app, token, 20)  # keys fetched, verdict and answer cached
    samples: dict[str, list[float]] = {name: [] for name in apps}
    gc.collect()
    for _ in range(ROUNDS):
        for name, app in apps.items():
            gc.disable()
            try:
                samples[name].append(await drive(app, token, REQUESTS[name]))
            finally:
                gc.enable()
    return samples


def main() -> None:
    """Print microseconds per request and the ratios."""
    # Okta's per-minute limit would answer 429 (then 503) within the first rounds.
    with MockIssuer(rate_limit={"introspect": 10**9}) as okta:
        okta.register_client("introspector", SECRET)
        token = okta.mint_token(scopes=["orders:read"], client_id="bench")
        apps = {
            "local only": _app(okta, cache_ttl=30.0, introspect=False),
            "introspect cached": _app(okta, cache_ttl=30.0, introspect=True),
            "introspect always": _app(okta, cache_ttl=0.0, introspect=True),
        }
        samples = asyncio.run(_measure(apps, token))
        calls = okta.count("introspect")
    best = {name: min(values) for name, values in samples.items()}
    print(f"raw ASGI calls, {ROUNDS} interleaved rounds; mock Okta on loopback:")
    print(f"  {'route':<20} {'best us/request':>16} {'median paired vs local only':>29}")
    for name, values in samples.items():
        paired = statistics.median(
            a / b for a, b in zip(values, samples["local only"], strict=True)
        )
        print(f"  {name:<20} {best[name] * 1e6:>16.1f} {paired:>28.2f}x")
    print(
        f"  the cache saves {best['introspect always'] / best['introspect cached']:.0f}x per "
        f"request (best runs); {calls} introspection calls in all"
    )


if __name__ == "__main__":
    main()
