"""Cost of the service-token client: okta-guard vs plain httpx, httpx-auth and authlib.

Everything runs in-process (no sockets), which keeps the numbers stable and shows
the libraries' own overhead:

* the protected API is an ``httpx.MockTransport`` answering 200;
* the token endpoint is the mock issuer's in-process transport
  (``MockIssuer.transport``); every peer gets its token from it once, so all
  measurements are on a *cached* token (the steady state).

Sections:

1. per request, sync: plain ``httpx.Client`` (no auth) vs ``auth=client.auth``
   (okta-guard) vs ``httpx_auth.OAuth2ClientCredentials`` vs authlib's
   ``OAuth2Client`` (an httpx client that adds the token itself);
2. per request, async: plain ``httpx.AsyncClient`` vs ``auth=client.auth``;
3. a cached token: ``TokenClient.get_token()`` vs httpx-auth's token cache lookup
   (what its ``auth_flow`` does per request) vs authlib's ``ensure_active_token``.

Run: ``python -m bench client`` (or ``make bench``).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from okta_guard import TokenClient
from okta_guard.testing import MockIssuer

ROUNDS = 5
REQUESTS = 3000
LOOKUPS = 100_000
API = "https://api.example/orders"
SECRET = "bench-secret-0123456789-abcdefghijkl"
SCOPE = "orders:read"


def _api(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b'{"ok":true}')


def _best(runs: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Best of ``ROUNDS`` per variant, rounds interleaved across variants (fair under load);
    microseconds per operation."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - start) / count * 1e6)
    return {name: min(values) for name, values in samples.items()}


def _best_async(runs: dict[str, Callable[[], Awaitable[None]]], count: int) -> dict[str, float]:
    """:func:`_best` for coroutines, all in one event loop."""

    async def rounds() -> dict[str, float]:
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(ROUNDS):
            for name, run in runs.items():
                start = time.perf_counter()
                await run()
                samples[name].append((time.perf_counter() - start) / count * 1e6)
        return {name: min(values) for name, values in samples.items()}

    return asyncio.run(rounds())


def _table(results: dict[str, float]) -> None:
    """Print rows with ratio and delta against the first row."""
    print("  {:<34} {:>9}  {:>7}  {:>8}".format("", "us/op", "ratio", "delta us"))
    base: float | None = None
    for name, value in results.items():
        print(_row(name, value, base))
        base = value if base is None else base


def _requests(client: httpx.Client) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REQUESTS):
            client.get(API).raise_for_status()

    return run


def _peers(okta: MockIssuer) -> dict[str, Any]:
    """httpx-auth and authlib set up against the in-process mock issuer, tokens cached."""
    peers: dict[str, Any] = {}
    try:
        import httpx_auth

        auth = httpx_auth.OAuth2ClientCredentials(
            okta.token_url,
            client_id="svc",
            client_secret=SECRET,
            scope=SCOPE,
            client=httpx.Client(transport=okta.transport),
        )
        peers["httpx-auth"] = auth
    except ImportError:  # pragma: no cover - dev extra missing
        pass
    try:
        import authlib.deprecate  # installs its own warning filter; ours must come after

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from authlib.integrations.httpx_client import OAuth2Client

        authlib = OAuth2Client(
            client_id="svc",
            client_secret=SECRET,
            scope=SCOPE,
            token_endpoint=okta.token_url,
            transport=httpx.MockTransport(_api),
        )
        with httpx.Client(transport=okta.transport) as token_http:
            reply = token_http.post(
                okta.token_url,
                data={"grant_type": "client_credentials", "scope": SCOPE},
                auth=("svc", SECRET),
            )
        authlib.token = reply.json()
        peers["authlib"] = authlib
    except ImportError:  # pragma: no cover - dev extra missing
        pass
    return peers


def _row(name: str, value: float, base: float | None) -> str:
    ratio = f"{value / base:6.2f}x" if base else "      -"
    extra = f"{value - base:+8.2f}" if base else "       -"
    return f"  {name:<34} {value:9.2f}  {ratio}  {extra}"


def main() -> None:
    """Print the three tables."""
    okta = MockIssuer()
    okta.register_client("svc", SECRET, scopes=[SCOPE])
    client = TokenClient(
        okta.issuer,
        "svc",
        SECRET,
        scopes=[SCOPE],
        http_client=httpx.Client(transport=okta.transport),
    )
    client.get_token()
    peers = _peers(okta)
    api = httpx.MockTransport(_api)
    clients: list[httpx.Client] = []

    def requests_with(auth: Any = None, http: httpx.Client | None = None) -> Callable[[], None]:
        if http is None:
            http = httpx.Client(transport=api, auth=auth)
        clients.append(http)
        http.get(API).raise_for_status()  # warm up (peers fetch their token here)
        return _requests(http)

    sync_runs = {
        "plain httpx (no auth)": requests_with(),
        "okta-guard client.auth": requests_with(client.auth),
    }
    if "httpx-auth" in peers:
        sync_runs["httpx_auth.OAuth2ClientCredentials"] = requests_with(peers["httpx-auth"])
    if "authlib" in peers:
        sync_runs["authlib OAuth2Client"] = requests_with(http=peers["authlib"])
    print(f"1. sync request through httpx, cached token ({REQUESTS} requests, best of {ROUNDS})")
    _table(_best(sync_runs, REQUESTS))
    for http in clients:
        http.close()

    def async_run(auth: Any) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with httpx.AsyncClient(transport=api, auth=auth) as http:
                for _ in range(REQUESTS):
                    (await http.get(API)).raise_for_status()

        return run

    print(f"\n2. async request through httpx, cached token ({REQUESTS} requests)")
    async_runs = {
        "plain httpx.AsyncClient": async_run(None),
        "okta-guard client.auth": async_run(client.auth),
    }
    _table(_best_async(async_runs, REQUESTS))

    def lookups(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(LOOKUPS):
                fn()

        return run

    lookup_runs = {"okta-guard get_token()": lookups(client.get_token)}
    if "httpx-auth" in peers:
        import httpx_auth

        auth = peers["httpx-auth"]

        def httpx_auth_lookup() -> Any:
            return httpx_auth.OAuth2.token_cache.get_token(
                auth.state,
                early_expiry=auth.early_expiry,
                on_missing_token=auth.request_new_token,
            )

        lookup_runs["httpx-auth token cache get_token"] = lookups(httpx_auth_lookup)
    if "authlib" in peers:
        authlib = peers["authlib"]
        lookup_runs["authlib ensure_active_token"] = lookups(
            lambda: authlib.ensure_active_token(authlib.token)
        )
    print(f"\n3. a cached token ({LOOKUPS} lookups)")
    results = _best(lookup_runs, LOOKUPS)

    async def async_lookups() -> None:
        for _ in range(LOOKUPS):
            await client.get_token_async()

    results.update(_best_async({"okta-guard await get_token_async()": async_lookups}, LOOKUPS))
    _table(results)
    print(
        "\n  ratios: x the first row of each table; delta: extra microseconds per operation."
        f"\n  token requests made: {okta.count('token')} (all measurements on cached tokens)"
    )
    client.close()
    okta.close()


if __name__ == "__main__":
    main()
