"""A service calling the orders API with an Okta service token: httpx + ``TokenClient.auth``.

``TokenClient`` gets a client-credentials token from Okta, caches it, refreshes
it before it expires, and ``client.auth`` adds ``Authorization: Bearer ...`` to
every request (retrying a GET once with a fresh token if the API answers 401).
The same client works for sync and async httpx clients.

Run it against the example API (``uvicorn examples.starlette_app:app``)::

    export OKTA_ISSUER=https://dev-123456.okta.com/oauth2/default
    export OKTA_CLIENT_ID=0oa1b2c3d4EXAMPLE
    export OKTA_CLIENT_SECRET=...               # never on the command line
    export OKTA_SCOPES="orders:read orders:write"
    export ORDERS_API_URL=http://127.0.0.1:8000
    python -m examples.service_caller           # sync
    python -m examples.service_caller --async   # async

Or against the mock issuer: ``okta-guard mock-issuer --port 0 --client
svc:secret:orders:read,orders:write`` prints the issuer to use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from okta_guard import TokenClient

DEFAULT_SCOPES = ("orders:read", "orders:write")


def call_orders(
    issuer: str,
    client_id: str,
    client_secret: str,
    api_url: str,
    *,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    item: str = "tea",
    transport: httpx.BaseTransport | None = None,
    **client_options: Any,
) -> dict[str, Any]:
    """List the orders and create one; return both answers (sync).

    ``client_options`` go to :class:`TokenClient` (e.g. ``http_client=`` to reach
    the token endpoint through your own httpx client); ``transport`` reaches the API.
    """
    with (
        TokenClient(issuer, client_id, client_secret, scopes=scopes, **client_options) as okta,
        httpx.Client(base_url=api_url, auth=okta.auth, transport=transport, timeout=10.0) as api,
    ):
        orders = api.get("/orders").raise_for_status().json()
        created = api.post("/orders", json={"item": item}).raise_for_status().json()
    return {"orders": orders, "created": created}


async def call_orders_async(
    issuer: str,
    client_id: str,
    client_secret: str,
    api_url: str,
    *,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    item: str = "tea",
    transport: httpx.AsyncBaseTransport | None = None,
    **client_options: Any,
) -> dict[str, Any]:
    """The same calls with ``httpx.AsyncClient``; the two GETs run concurrently and
    share one token request.  ``transport`` reaches the API (tests pass an
    ``httpx.ASGITransport``)."""
    async with (
        TokenClient(issuer, client_id, client_secret, scopes=scopes, **client_options) as okta,
        httpx.AsyncClient(
            base_url=api_url, auth=okta.auth, transport=transport, timeout=10.0
        ) as api,
    ):
        first, second = await asyncio.gather(api.get("/orders"), api.get("/orders"))
        orders = first.raise_for_status().json()
        second.raise_for_status()
        created = (await api.post("/orders", json={"item": item})).raise_for_status().json()
    return {"orders": orders, "created": created}


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``call_orders`` arguments from ``OKTA_*`` and ``ORDERS_API_URL``."""
    env = os.environ if env is None else env
    missing = [
        name
        for name in ("OKTA_ISSUER", "OKTA_CLIENT_ID", "OKTA_CLIENT_SECRET")
        if not env.get(name)
    ]
    if missing:
        raise SystemExit(f"service_caller: set {', '.join(missing)} (see the module docstring)")
    return {
        "issuer": env["OKTA_ISSUER"],
        "client_id": env["OKTA_CLIENT_ID"],
        "client_secret": env["OKTA_CLIENT_SECRET"],
        "api_url": env.get("ORDERS_API_URL", "http://127.0.0.1:8000"),
        "scopes": (env.get("OKTA_SCOPES") or " ".join(DEFAULT_SCOPES)).replace(",", " ").split(),
    }


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Call the API once, sync or ``--async``, and print what it answered."""
    parser = argparse.ArgumentParser(description="Call the orders API with an Okta token.")
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args(argv)
    settings = settings_from_env(env)
    if args.use_async:
        result = asyncio.run(call_orders_async(**settings))
    else:
        result = call_orders(**settings)
    print(f"orders:  {result['orders']}")
    print(f"created: {result['created']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
