"""DPoP-bound service tokens with HTTP stacks other than httpx: ``requests`` and ``aiohttp``.

``client.auth`` does all of this for httpx.  With another stack, each request needs
``Authorization: DPoP <token>`` and a *fresh* proof from ``client.dpop_proof(...)``;
when the API answers 401 ``use_dpop_nonce`` with a ``DPoP-Nonce``, remember the nonce
(``client.note_dpop_nonce``) and send once more with a new proof (RFC 9449 §9).

Run against the mock issuer and a DPoP-protected API (see docs/dpop.md)::

    python examples/dpop_other_clients.py ISSUER CLIENT_ID SECRET API_URL
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp
import requests

from okta_guard import TokenClient


def _needs_nonce(status: int, headers: Any) -> bool:
    challenge = headers.get("www-authenticate", "")
    return status == 401 and "use_dpop_nonce" in challenge


def get_with_requests(client: TokenClient, url: str, session: requests.Session) -> Any:
    """GET ``url`` with ``requests``: DPoP or Bearer, as the service token says."""
    token = client.get_token()
    for _attempt in range(2):
        headers = {"Authorization": token.authorization}
        if token.token_type == "DPoP":
            headers["DPoP"] = client.dpop_proof("GET", url, access_token=token.access_token)
        response = session.get(url, headers=headers, timeout=10)
        new_nonce = client.note_dpop_nonce(url, response)
        if not (new_nonce and _needs_nonce(response.status_code, response.headers)):
            break
    response.raise_for_status()
    return response.json()


async def post_with_aiohttp(
    client: TokenClient, url: str, body: Any, session: aiohttp.ClientSession
) -> Any:
    """POST ``body`` as JSON to ``url`` with ``aiohttp``."""
    token = await client.get_token_async()
    for _attempt in range(2):
        headers = {"Authorization": token.authorization}
        if token.token_type == "DPoP":
            headers["DPoP"] = client.dpop_proof("POST", url, access_token=token.access_token)
        async with session.post(url, json=body, headers=headers) as response:
            new_nonce = client.note_dpop_nonce(url, response)
            if new_nonce and _needs_nonce(response.status, response.headers):
                continue
            response.raise_for_status()
            return await response.json()
    raise RuntimeError("the API kept asking for a new DPoP nonce")


async def _main(issuer: str, client_id: str, secret: str, api_url: str) -> None:
    client = TokenClient(issuer, client_id, secret, scopes=["orders:read"])
    with requests.Session() as session:
        print("requests:", get_with_requests(client, f"{api_url}/orders", session))
    async with aiohttp.ClientSession() as session:
        print("aiohttp:", await post_with_aiohttp(client, f"{api_url}/orders", {}, session))
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:5]))
