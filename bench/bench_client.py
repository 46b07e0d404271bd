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


def _best(run: Callable[[], None], count: int) -> float:
    """Best of ``ROUNDS`` runs, in microseconds per operation."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) / count * 1e6)
    return min(samples)


def _best_async(run: Callable[[], Awaitable[None]], count: int) -> float:
    async def rounds() -> float:
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            await run()
            samples.append((time.perf_counter() - start) / count * 1e6)
        return min(samples)

    return asyncio.run(rounds())


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
    header = "  {:<34} {:>9}  {:>7}  {:>8}".format("", "us/op", "ratio", "delta us")

    print(f"1. sync request through httpx, cached token ({REQUESTS} requests, best of {ROUNDS})")
    print(header)
    with httpx.Client(transport=api) as plain:
        base = _best(_requests(plain), REQUESTS)
    print(_row("plain httpx (no auth)", base, None))
    with httpx.Client(transport=api, auth=client.auth) as guarded:
        print(_row("okta-guard client.auth", _best(_requests(guarded), REQUESTS), base))
    if "httpx-auth" in peers:
        with httpx.Client(transport=api, auth=peers["httpx-auth"]) as other:
            other.get(API)
            value = _best(_requests(other), REQUESTS)
        print(_row("httpx_auth.OAuth2ClientCredentials", value, base))
    if "authlib" in peers:
        print(_row("authlib OAuth2Client", _best(_requests(peers["authlib"]), REQUESTS), base))

    print(f"\n2. async request through httpx, cached token ({REQUESTS} requests)")
    print(header)

    def async_run(auth: Any) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with httpx.AsyncClient(transport=api, auth=auth) as http:
                for _ in range(REQUESTS):
                    (await http.get(API)).raise_for_status()

        return run

    abase = _best_async(async_run(None), REQUESTS)
    print(_row("plain httpx.AsyncClient", abase, None))
    print(_row("okta-guard client.auth", _best_async(async_run(client.auth), REQUESTS), abase))

    print(f"\n3. a cached token ({LOOKUPS} lookups)")
    print(header)

    def lookups(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(LOOKUPS):
                fn()

        return run

    ours = _best(lookups(client.get_token), LOOKUPS)
    print(_row("okta-guard get_token()", ours, None))
    if "httpx-auth" in peers:
        import httpx_auth

        auth = peers["httpx-auth"]

        def httpx_auth_lookup() -> Any:
            return httpx_auth.OAuth2.token_cache.get_token(
                auth.state,
                early_expiry=auth.early_expiry,
                on_missing_token=auth.request_new_token,
            )

        value = _best(lookups(httpx_auth_lookup), LOOKUPS)
        print(_row("httpx-auth token cache get_token", value, ours))
    if "authlib" in peers:
        authlib = peers["authlib"]
        value = _best(lookups(lambda: authlib.ensure_active_token(authlib.token)), LOOKUPS)
        print(_row("authlib ensure_active_token", value, ours))

    async def async_lookups() -> None:
        for _ in range(LOOKUPS):
            await client.get_token_async()

    print(_row("okta-guard await get_token_async()", _best_async(async_lookups, LOOKUPS), ours))
    print(
        "\n  ratios: x the first row of each table; delta: extra microseconds per operation."
        f"\n  token requests made: {okta.count('token')} (all measurements on cached tokens)"
    )
    client.close()
    okta.close()


if __name__ == "__main__":
    main()
