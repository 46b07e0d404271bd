"""Request latency of the mock Okta's loopback server against a bare stdlib floor.

One ``httpx.Client`` per case, on 127.0.0.1, over a reused (keep-alive)
connection and with ``Connection: close`` (a new TCP connection each time):

* floor: a bare stdlib ``http.server`` (``ThreadingHTTPServer``, HTTP/1.1,
  buffered writes so each answer leaves in one send) answering a fixed body as
  long as the mock's key set;
* mock ``GET /v1/keys`` and ``POST /v1/token`` (client_secret_basic; each token
  is signed with RS256, whose cost is shown on its own row).

Before the fix of the keep-alive path (one write per answer, ``TCP_NODELAY``)
a keep-alive request cost ~40 ms: Nagle's algorithm held the body back until
the client's delayed ACK of the headers.  Target: a keep-alive ``/v1/keys``
request within 2x of the floor and under 2 ms.

Rounds are interleaved across cases and the best round is reported (the
machine is shared; ratios from one run are what count).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from okta_guard.testing import MockIssuer

REQUESTS = 50
ROUNDS = 15
TOKEN_FORM = {"grant_type": "client_credentials", "scope": "bench"}


def _floor_server(body: bytes) -> ThreadingHTTPServer:
    class Fixed(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # buffered: headers and body flushed in one send

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Fixed)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _loop(call: Callable[[], httpx.Response]) -> Callable[[], None]:
    def run() -> None:
        for _ in range(REQUESTS):
            call().raise_for_status()

    return run


def _best(runs: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Best of ``ROUNDS`` per case, rounds interleaved; milliseconds per request."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()  # warm up: connect, first key use
    gc.disable()
    try:
        for _ in range(ROUNDS):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                samples[name].append((time.perf_counter() - start) / REQUESTS * 1e3)
    finally:
        gc.enable()
    return {name: min(values) for name, values in samples.items()}


def _sign_cost(okta: MockIssuer) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS):
        okta.mint_token(scopes=["bench"])
    return (time.perf_counter() - start) / REQUESTS * 1e3


def main() -> None:
    """Print the latency table."""
    with MockIssuer(rate_limit=10**9) as okta:
        okta.register_client("svc", "secret", scopes=["bench"])
        keys_body = httpx.get(okta.jwks_uri, trust_env=False).content
        floor = _floor_server(keys_body)
        floor_url = f"http://127.0.0.1:{floor.server_address[1]}/"
        alive = httpx.Client(trust_env=False)
        close = httpx.Client(trust_env=False, headers={"Connection": "close"})
        try:
            runs = {
                "floor: stdlib http.server, keep-alive": _loop(lambda: alive.get(floor_url)),
                "mock GET /v1/keys, keep-alive": _loop(lambda: alive.get(okta.jwks_uri)),
                "mock POST /v1/token, keep-alive": _loop(
                    lambda: alive.post(okta.token_url, data=TOKEN_FORM, auth=("svc", "secret"))
                ),
                "floor: stdlib http.server, close": _loop(lambda: close.get(floor_url)),
                "mock GET /v1/keys, close": _loop(lambda: close.get(okta.jwks_uri)),
                "mock POST /v1/token, close": _loop(
                    lambda: close.post(okta.token_url, data=TOKEN_FORM, auth=("svc", "secret"))
                ),
            }
            results = _best(runs)
            sign = _sign_cost(okta)
        finally:
            alive.close()
            close.close()
            floor.shutdown()
            floor.server_close()
    print(f"loopback request latency ({REQUESTS} requests, best of {ROUNDS} interleaved rounds)")
    print("  {:<40} {:>8}  {:>9}".format("", "ms/req", "vs floor"))
    for name, value in results.items():
        base = results[
            "floor: stdlib http.server, keep-alive"
            if "keep-alive" in name
            else "floor: stdlib http.server, close"
        ]
        print(f"  {name:<40} {value:8.3f}  {value / base:8.2f}x")
    print(f"  {'(of which RS256 token signing)':<40} {sign:8.3f}")
    keys = results["mock GET /v1/keys, keep-alive"]
    ratio = keys / results["floor: stdlib http.server, keep-alive"]
    verdict = "meets" if ratio <= 2.0 and keys < 2.0 else "MISSES"
    print(f"  keep-alive /v1/keys: {keys:.3f} ms, {ratio:.2f}x floor - {verdict} (<= 2x, < 2 ms)")
