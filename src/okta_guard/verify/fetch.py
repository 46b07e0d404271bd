"""The HTTP shell of the key cache: one GET, sync or async, size-capped, never raising.

The discovery and key-fetch flows (:mod:`okta_guard.verify.discovery`,
:mod:`okta_guard.verify.key_policy`) are generators yielding
:class:`~okta_guard.verify.discovery.HttpRequest`; :func:`drive` runs such a flow with
a sync ``send`` function, and the async driver in :mod:`okta_guard.verify.key_cache` runs
it with :func:`get_async`.  Redirects are not followed, bodies above the cap
are refused while streaming (``Accept-Encoding: identity`` keeps a compressed
body from expanding past it), and every transport failure becomes an
:class:`~okta_guard.verify.discovery.HttpResponse` with ``error`` set.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

import httpx

from okta_guard import telemetry
from okta_guard.verify.discovery import HttpRequest, HttpResponse

__all__ = ["MAX_RESPONSE_BYTES", "drive", "get_async", "get_sync"]

#: Largest response body accepted, in bytes.
MAX_RESPONSE_BYTES = 1024 * 1024
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}
_T = TypeVar("_T")


def _kind(url: str) -> str:
    return "discovery" if "/.well-known/" in url else "keys"


def get_sync(client: httpx.Client, request: HttpRequest, max_bytes: int) -> HttpResponse:
    """GET ``request.url`` with ``client``; every failure is an ``error`` response."""
    with telemetry.outbound(_kind(request.url), "GET", request.url) as span:
        response = _get_sync(client, request, max_bytes)
        span.done(response.status, response.error)
    return response


async def get_async(
    client: httpx.AsyncClient, request: HttpRequest, max_bytes: int
) -> HttpResponse:
    """GET ``request.url`` with ``client`` without blocking the loop; never raises."""
    with telemetry.outbound(_kind(request.url), "GET", request.url) as span:
        response = await _get_async(client, request, max_bytes)
        span.done(response.status, response.error)
    return response


def _get_sync(client: httpx.Client, request: HttpRequest, max_bytes: int) -> HttpResponse:
    try:
        with client.stream(
            "GET", request.url, headers=_HEADERS, follow_redirects=False
        ) as response:
            if response.status_code != 200:
                return HttpResponse(response.status_code, response.headers)
            if _declared_too_large(response, max_bytes):
                return HttpResponse(0, error="too_large")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    return HttpResponse(0, error="too_large")
            return HttpResponse(200, response.headers, bytes(body))
    except httpx.TimeoutException:
        return HttpResponse(0, error="timeout")
    except Exception:  # any transport failure is "unreachable", never a crash
        return HttpResponse(0, error="network")


async def _get_async(
    client: httpx.AsyncClient, request: HttpRequest, max_bytes: int
) -> HttpResponse:
    try:
        async with client.stream(
            "GET", request.url, headers=_HEADERS, follow_redirects=False
        ) as response:
            if response.status_code != 200:
                return HttpResponse(response.status_code, response.headers)
            if _declared_too_large(response, max_bytes):
                return HttpResponse(0, error="too_large")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    return HttpResponse(0, error="too_large")
            return HttpResponse(200, response.headers, bytes(body))
    except httpx.TimeoutException:
        return HttpResponse(0, error="timeout")
    except Exception:  # any transport failure is "unreachable", never a crash
        return HttpResponse(0, error="network")


def _declared_too_large(response: httpx.Response, limit: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


def drive(
    flow: Generator[HttpRequest, HttpResponse, _T], send: Callable[[HttpRequest], HttpResponse]
) -> _T:
    """Run a sans-IO request flow to its end with ``send`` and return its result."""
    try:
        request = next(flow)
        while True:
            request = flow.send(send(request))
    except StopIteration as stop:
        result: _T = stop.value
        return result
