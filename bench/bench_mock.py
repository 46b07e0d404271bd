"""Request latency of the mock Okta's loopback server against bare stdlib floors.

One ``httpx.Client`` per connection mode, on 127.0.0.1, over a reused
(keep-alive) connection and with ``Connection: close`` (a new TCP connection
each time), in one run:

* GET floor: a bare stdlib ``http.server`` (``ThreadingHTTPServer``, HTTP/1.1,
  buffered writes so each answer leaves in one send) answering a fixed body as
  long as the mock's key set;
* POST floor: the same server answering the token request itself (same form
  body, same Basic credentials, body read by its ``Content-Length``) with a
  fixed body as long as the mock's token answer - the like-for-like floor of
  ``/v1/token``, which costs the client more than a GET (a form to encode,
  credentials, headers and body in two sends);
* POST floor + RS256: the same, plus one RS256 signature (RSA-2048, PKCS#1
  v1.5, SHA-256) of a token-sized input per request - the least any server
  that signs a fresh token per request can cost on this machine;
* mock ``GET /v1/keys`` and ``POST /v1/token`` (client_secret_basic; each token
  is a fresh RS256 JWT, whose signature cost is shown on its own row).

Before the fix of the keep-alive path (one write per answer, ``TCP_NODELAY``)
a keep-alive request cost ~40 ms: Nagle's algorithm held the body back until
the client's delayed ACK of the headers.  Target: a keep-alive request within
2x of the GET floor and under 2 ms, for the keys and for the token.

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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from okta_guard.testing import MockIssuer

REQUESTS = 50
ROUNDS = 15
TOKEN_FORM = {"grant_type": "client_credentials", "scope": "bench"}
CREDENTIALS = ("svc", "secret")
TARGET_RATIO = 2.0
TARGET_MS = 2.0
MODES = ("keep-alive", "close")


def _floor_server(get_body: bytes, post_body: bytes) -> ThreadingHTTPServer:
    """The bare stdlib server: fixed answers; ``POST /sign`` signs like a token endpoint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = b"x" * (len(post_body) * 3 // 4)  # base64url of header and claims

    class Fixed(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # buffered: headers and body flushed in one send

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(get_body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            if self.path == "/sign":
                key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
            self._answer(post_body)

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
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(REQUESTS):
            okta.mint_token(scopes=["bench"])
        best = min(best, (time.perf_counter() - start) / REQUESTS * 1e3)
    return best


def _cases(
    client: httpx.Client, mode: str, floor_url: str, okta: MockIssuer
) -> dict[str, Callable[[], None]]:
    def post(url: str) -> Callable[[], httpx.Response]:
        return lambda: client.post(url, data=TOKEN_FORM, auth=CREDENTIALS)

    calls = (
        lambda: client.get(floor_url),
        post(floor_url),
        post(floor_url + "sign"),
        lambda: client.get(okta.jwks_uri),
        post(okta.token_url),
    )
    return {name: _loop(call) for name, call in zip(_names(mode), calls, strict=True)}


def _names(mode: str) -> tuple[str, ...]:
    """The rows of one connection mode: the floors, then the mock's two endpoints."""
    return (
        f"GET floor, {mode}",
        f"POST floor, {mode}",
        f"POST floor + RS256, {mode}",
        f"mock GET /v1/keys, {mode}",
        f"mock POST /v1/token, {mode}",
    )


def _measure() -> tuple[dict[str, float], float]:
    with MockIssuer(rate_limit=10**9) as okta:
        okta.register_client(*CREDENTIALS, scopes=["bench"])
        keys_body = httpx.get(okta.jwks_uri, trust_env=False).content
        token_body = httpx.post(
            okta.token_url, data=TOKEN_FORM, auth=CREDENTIALS, trust_env=False
        ).content
        floor = _floor_server(keys_body, token_body)
        floor_url = f"http://127.0.0.1:{floor.server_address[1]}/"
        clients = {
            "keep-alive": httpx.Client(trust_env=False),
            "close": httpx.Client(trust_env=False, headers={"Connection": "close"}),
        }
        try:
            runs: dict[str, Callable[[], None]] = {}
            for mode, client in clients.items():
                runs.update(_cases(client, mode, floor_url, okta))
            results = _best(runs)
            sign = _sign_cost(okta)
        finally:
            for client in clients.values():
                client.close()
            floor.shutdown()
            floor.server_close()
    return results, sign


def _verdict(name: str, results: dict[str, float]) -> str:
    value = results[f"mock {name}, keep-alive"]
    ratio = value / results["GET floor, keep-alive"]
    meets = ratio <= TARGET_RATIO and value < TARGET_MS
    like = ""
    if name.startswith("POST"):
        like = "".join(
            f", {value / results[f'{floor}, keep-alive']:.2f}x {floor}"
            for floor in ("POST floor", "POST floor + RS256")
        )
    return (
        f"  keep-alive {name}: {value:.3f} ms, {ratio:.2f}x GET floor{like}"
        f" - {'meets' if meets else 'MISSES'} (<= {TARGET_RATIO:g}x GET floor, < {TARGET_MS:g} ms)"
    )


def main() -> None:
    """Print the latency table and the verdicts."""
    results, sign = _measure()
    print(f"loopback request latency ({REQUESTS} requests, best of {ROUNDS} interleaved rounds)")
    print("  {:<34} {:>8}  {:>11}  {:>12}".format("", "ms/req", "vs GET floor", "vs POST floor"))
    for mode in MODES:
        get_floor, post_floor = results[f"GET floor, {mode}"], results[f"POST floor, {mode}"]
        for name in _names(mode):
            value = results[name]
            like = f"{value / post_floor:.2f}x" if "POST" in name else ""
            print(f"  {name:<34} {value:8.3f}  {value / get_floor:11.2f}x  {like:>13}")
    print(f"  {'(of which minting one token)':<34} {sign:8.3f}")
    print(_verdict("GET /v1/keys", results))
    print(_verdict("POST /v1/token", results))
