"""Cost of protecting a small Starlette app: okta-guard vs no protection vs okta-jwt-verifier.

In-process, twice: through ``httpx.AsyncClient(transport=ASGITransport(app))`` (an
in-process request as a test or a proxy would make it), and as raw ASGI calls
(pre-built scope, no client, no sockets: the protection's bare cost).  Every app
gets the identical request, token included (the unprotected app ignores it):

* ``unprotected``        the bare app;
* ``floor``              the bare app behind a do-nothing pure-ASGI middleware, with a
                         do-nothing decorator on the route: the shape of protection
                         without its work, the least any middleware + decorator costs;
* ``okta-guard``         ``OktaGuardMiddleware`` + ``@require_scopes("orders:read")``,
                         the same valid token every time (the steady state);
* ``okta-jwt-verifier``  the bare app with an endpoint wrapper ("dependency") that
                         awaits ``AccessTokenVerifier.verify(token)`` and checks ``scp``.

In-process timing: rounds interleaved across the apps (so a busy machine hurts
them alike), the garbage collector paused during each run (``timeit``'s
convention); each table shows the best run per app and the median of its
per-round ratios to the unprotected app - two views of the same data, both
printed so that neither is cherry-picked - and okta-guard's cost beyond the floor.

Real server: uvicorn on 127.0.0.1 (port 0) in a child process, loaded by a small
asyncio HTTP/1.1 keep-alive generator in this process (C connections, D seconds
each) - requests/s protected vs unprotected, both sent the identical request
(with the token), so the difference is the protection itself.

The mock issuer serves its keys over https with a throw-away ``trustme`` CA,
because okta-jwt-verifier insists on https and fetches keys with aiohttp; its
public ``request_executor=`` hook gets a subclass that passes that CA to aiohttp
(no patching of its verification code).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import multiprocessing
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from okta_guard import OktaGuardMiddleware, TokenVerifier, require_scopes
from okta_guard.testing import MockIssuer

AUDIENCE = "api://default"
ROUNDS = 7
RAW_ROUNDS = 61
IN_PROCESS_REQUESTS = 500
CLIENT_REQUESTS = 1000
CONNECTIONS = 16
DURATION = 1.0
SERVER_ROUNDS = 7

Endpoint = Callable[[Request], Awaitable[Response]]


async def orders(request: Request) -> Response:
    return JSONResponse({"orders": [1, 2, 3]})


class DoNothingMiddleware:
    """A pure ASGI middleware that only passes the call on (the floor)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def do_nothing(endpoint: Endpoint) -> Endpoint:
    """A decorator that only passes the call on (the floor)."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        return await endpoint(request)

    return wrapper


def build_app(kind: str, issuer: str = "", ca_file: str = "", peer: Any = None) -> Starlette:
    """The benchmark app: ``unprotected``, ``okta-guard`` or ``okta-jwt-verifier``."""
    if kind == "unprotected":
        return Starlette(routes=[Route("/orders", orders)])
    if kind == "floor":
        return Starlette(
            routes=[Route("/orders", do_nothing(orders))],
            middleware=[Middleware(DoNothingMiddleware)],
        )
    if kind == "okta-guard":
        context = ssl.create_default_context(cafile=ca_file)
        verifier = TokenVerifier(
            issuer,
            AUDIENCE,
            http_client=httpx.Client(verify=context),
            async_http_client=httpx.AsyncClient(verify=context),
        )
        return Starlette(
            routes=[Route("/orders", require_scopes("orders:read")(orders))],
            middleware=[Middleware(OktaGuardMiddleware, verifier=verifier)],
        )
    if kind == "okta-jwt-verifier":
        return Starlette(routes=[Route("/orders", okta_jwt_verifier_dependency(peer)(orders))])
    raise ValueError(kind)


def okta_jwt_verifier_dependency(verifier: Any) -> Callable[[Endpoint], Endpoint]:
    """What an app using okta-jwt-verifier writes: check the header, verify, check scp."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            try:
                await verifier.verify(token)
            except Exception:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            from okta_jwt_verifier.jwt_utils import JWTUtils

            _, claims, _, _ = JWTUtils.parse_token(token)
            if "orders:read" not in claims.get("scp", []):
                return JSONResponse({"error": "insufficient_scope"}, status_code=403)
            return await endpoint(request)

        return guarded

    return decorate


# -- in-process ------------------------------------------------------------------------


async def drive(app: Any, token: str | None, count: int) -> float:
    """Send ``count`` GET /orders straight into ``app``; return seconds per request."""
    headers = [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("bench", 80),
        "client": ("127.0.0.1", 5000),
    }
    request = {"type": "http.request", "body": b"", "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(count):
        await app(dict(base, state={}), receive, send)
    elapsed = time.perf_counter() - start
    if set(statuses) != {200}:
        raise RuntimeError(f"benchmark app answered {sorted(set(statuses))}")
    return elapsed / count


async def drive_client(app: Any, token: str | None, count: int) -> float:
    """``count`` GET /orders through ``httpx.AsyncClient(transport=ASGITransport(app))``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        start = time.perf_counter()
        for _ in range(count):
            response = await client.get("/orders", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"benchmark app answered {response.status_code}")
        return (time.perf_counter() - start) / count


async def in_process(
    apps: dict[str, Any],
    token: str,
    driver: Callable[[Any, str | None, int], Awaitable[float]],
    count: int,
    rounds: int = ROUNDS,
) -> dict[str, list[float]]:
    """Seconds per request of every app, one sample per round (rounds interleaved)."""
    for app in apps.values():  # warm up: keys fetched, token verified once
        await driver(app, token, 50)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    gc.collect()
    for _ in range(rounds):  # interleave to share machine noise
        for name, app in apps.items():
            gc.disable()
            try:
                samples[name].append(await driver(app, token, count))
            finally:
                gc.enable()
    return samples


def print_times(title: str, samples: dict[str, list[float]]) -> None:
    """Best run per app (timeit's advice on a shared machine) and, per app, the median
    of its per-round ratios to the unprotected app of the same round (robust to drift)."""
    times = {name: min(values) for name, values in samples.items()}
    base = times["unprotected"]
    print(title)
    print(f"  {'app':<20} {'us/request':>12} {'vs unprotected':>16} {'median paired':>15}")
    for name, per in times.items():
        paired = statistics.median(
            a / b for a, b in zip(samples[name], samples["unprotected"], strict=True)
        )
        print(f"  {name:<20} {per * 1e6:>12.1f} {per / base:>15.2f}x {paired:>14.2f}x")
    if "floor" in samples:
        beyond = statistics.median(
            a - b for a, b in zip(samples["okta-guard"], samples["floor"], strict=True)
        )
        best = times["okta-guard"] - times["floor"]
        print(
            f"  okta-guard beyond the floor: {best * 1e6:+.2f} us best runs, "
            f"{beyond * 1e6:+.2f} us median of paired rounds; the floor alone is "
            f"{times['floor'] / base:.2f}x unprotected"
        )
    print(
        f"  okta-guard is {times['okta-jwt-verifier'] / times['okta-guard']:.1f}x faster "
        "than okta-jwt-verifier"
    )


# -- real server -------------------------------------------------------------------------


def _serve(kind: str, issuer: str, ca_file: str, port_out: Any) -> None:  # child process
    import logging

    import uvicorn

    logging.disable(logging.WARNING)
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    config = uvicorn.Config(
        build_app(kind, issuer, ca_file), log_level="error", access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])


async def load(port: int, token: str | None, connections: int, duration: float) -> float:
    """Keep-alive GET /orders over ``connections`` sockets for ``duration`` s; return req/s."""
    lines = [b"GET /orders HTTP/1.1", b"Host: 127.0.0.1", b"Accept: */*"]
    if token:
        lines.append(b"Authorization: Bearer " + token.encode())
    request = b"\r\n".join(lines) + b"\r\n\r\n"
    deadline = time.perf_counter() + duration
    done = 0

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - start)


def start_server(kind: str, issuer: str, ca_file: str) -> tuple[Any, int]:
    """Start uvicorn serving ``kind`` in a child process; return (process, port)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(kind, issuer, ca_file, child), daemon=True)
    process.start()
    port: int = parent.recv()
    for _ in range(200):  # wait until uvicorn accepts (after its lifespan startup)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    return process, port


def real_server(issuer: str, ca_file: str, token: str) -> dict[str, float]:
    """Requests/s of both servers, loaded alternately (best of SERVER_ROUNDS runs)."""
    servers = {kind: start_server(kind, issuer, ca_file) for kind in ("unprotected", "okta-guard")}
    try:
        # Both get the same request bytes (the token too), so the difference is the
        # protection, not the size of the request the server parses.
        tokens = {"unprotected": token, "okta-guard": token}
        for kind, (_, port) in servers.items():  # warm up
            asyncio.run(load(port, tokens[kind], CONNECTIONS, 0.3))
        rates: dict[str, list[float]] = {kind: [] for kind in servers}
        for _ in range(SERVER_ROUNDS):
            for kind, (_, port) in servers.items():
                rates[kind].append(asyncio.run(load(port, tokens[kind], CONNECTIONS, DURATION)))
        return {kind: max(values) for kind, values in rates.items()}
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.join(5)


# -- main --------------------------------------------------------------------------------


def _tls(tmp: Path) -> tuple[ssl.SSLContext, str]:
    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    bundle = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return server, str(bundle)


def _executor(ca_file: str) -> Any:
    """okta-jwt-verifier's RequestExecutor, trusting the benchmark CA."""
    from okta_jwt_verifier.request_executor import RequestExecutor

    context = ssl.create_default_context(cafile=ca_file)

    class TrustingExecutor(RequestExecutor):  # type: ignore[misc]
        async def fire_request(self, uri: str, **params: Any) -> Any:
            return await super().fire_request(uri, ssl=context, **params)

    return TrustingExecutor


def main() -> None:
    """Print the in-process and real-server tables with their ratios."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from okta_jwt_verifier import AccessTokenVerifier

    with tempfile.TemporaryDirectory() as tmp:
        server_tls, ca_file = _tls(Path(tmp))
        with MockIssuer(ssl_context=server_tls, audience=AUDIENCE) as okta:
            token = okta.mint_token(scopes=["orders:read"], client_id="bench", expires_in=3600)
            peer = AccessTokenVerifier(
                issuer=okta.issuer, audience=AUDIENCE, request_executor=_executor(ca_file)
            )
            apps = {
                kind: build_app(kind, okta.issuer, ca_file, peer)
                for kind in ("unprotected", "floor", "okta-guard", "okta-jwt-verifier")
            }
            print_times(
                f"in-process via httpx.ASGITransport, {CLIENT_REQUESTS} requests x {ROUNDS} "
                "rounds (best run):",
                asyncio.run(in_process(apps, token, drive_client, CLIENT_REQUESTS)),
            )
            print_times(
                f"\nin-process raw ASGI calls (no client: the bare protection cost), "
                f"{IN_PROCESS_REQUESTS} requests x {RAW_ROUNDS} interleaved rounds (best run):",
                asyncio.run(in_process(apps, token, drive, IN_PROCESS_REQUESTS, RAW_ROUNDS)),
            )
            print(
                f"\nreal server: uvicorn (child process) on 127.0.0.1, {CONNECTIONS} keep-alive "
                f"connections, {SERVER_ROUNDS} alternating runs of {DURATION:.1f} s (best run):"
            )
            rates = real_server(okta.issuer, ca_file, token)
            for name, rate in rates.items():
                print(
                    f"  {name:<20} {rate:>10.0f} req/s "
                    f"{rate / rates['unprotected'] * 100:>7.1f}% of unprotected"
                )


if __name__ == "__main__":
    sys.exit(main())
