"""Cost per request of introspecting routes: with the answer cache, and without it.

Raw ASGI calls (the driver of :mod:`bench.bench_middleware`) into one Starlette app
behind ``OktaGuardMiddleware``, the same valid token every time:

* ``local only``        ``@require_scopes("orders:read")`` (the cached local verdict);
* ``introspect cached`` ``@require_scopes("orders:read", introspect=True)``, default
                        30 s answer cache (the steady state: a hash and a store lookup);
* ``introspect always`` the same route on a verifier with ``introspection_cache_ttl=0``:
                        one ``/v1/introspect`` round trip per request to the mock Okta
                        on a loopback socket (keep-alive).

Rounds interleaved, best run per route, ratios to ``local only`` of the same run.
"""

from __future__ import annotations

import asyncio
import gc
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
ROUNDS = 7
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


async def _measure(apps: dict[str, Any], token: str) -> dict[str, float]:
    for app in apps.values():
        await drive(app, token, 20)  # keys fetched, verdict and answer cached
    best = {name: float("inf") for name in apps}
    gc.collect()
    for _ in range(ROUNDS):
        for name, app in apps.items():
            gc.disable()
            try:
                best[name] = min(best[name], await drive(app, token, REQUESTS[name]))
            finally:
                gc.enable()
    return best


def main() -> None:
    """Print microseconds per request and the ratios."""
    with MockIssuer() as okta:
        okta.register_client("introspector", SECRET)
        token = okta.mint_token(scopes=["orders:read"], client_id="bench")
        apps = {
            "local only": _app(okta, cache_ttl=30.0, introspect=False),
            "introspect cached": _app(okta, cache_ttl=30.0, introspect=True),
            "introspect always": _app(okta, cache_ttl=0.0, introspect=True),
        }
        best = asyncio.run(_measure(apps, token))
        calls = okta.count("introspect")
    base = best["local only"]
    print(f"raw ASGI calls, {ROUNDS} interleaved rounds (best run); mock Okta on loopback:")
    print(f"  {'route':<20} {'us/request':>12} {'vs local only':>15}")
    for name, seconds in best.items():
        print(f"  {name:<20} {seconds * 1e6:>12.1f} {seconds / base:>14.2f}x")
    print(
        f"  the cache saves {best['introspect always'] / best['introspect cached']:.0f}x per "
        f"request; {calls} introspection calls in all"
    )


if __name__ == "__main__":
    main()
