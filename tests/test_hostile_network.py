"""Every fetch path against a hostile issuer: the documented time and memory bounds hold.

The paths are listed once in :data:`PATHS` (discovery, keys, token; add introspection
there) and each runs, sync and async, against each fault of
:class:`tests.support.hostile.HostileIssuer` on a real loopback socket:

* ``drip``  - a 200 with a full ``Content-Length`` whose body arrives a byte at a time;
* ``stall`` - 200 headers, then nothing;
* ``gzip`` / ``deflate`` bombs - a small body inflating to 200 MB.

Time: the caller has its answer (``IssuerUnavailableError`` / ``TokenRequestError``) within
the configured total deadline; asserted with a generous margin (the machine is shared).
Memory: the peak traced allocation of the call stays far below the inflated size.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from okta_guard import TokenClient, TokenVerifier
from okta_guard.errors import IssuerUnavailableError, OktaGuardError, TokenRequestError
from okta_guard.testing import FakeClock
from tests.support.hostile import HostileIssuer

#: The total deadline the tests configure (seconds).
DEADLINE = 1.0
#: What the tests allow on top of it: a loaded, shared machine; still far from a hang.
SLACK = 2.5
#: Inflated size of a bomb, and the most a call may allocate meanwhile.
BOMB = 200 * 1024 * 1024
MEMORY_BOUND = 24 * 1024 * 1024


@pytest.fixture
def issuer() -> Iterator[HostileIssuer]:
    with HostileIssuer() as server:
        yield server


def make_verifier(server: HostileIssuer, **kwargs: Any) -> TokenVerifier:
    """A verifier of ``server`` with the test deadline, on a fake clock at the tokens' time."""
    kwargs.setdefault("fetch_deadline", DEADLINE)
    kwargs.setdefault("clock", FakeClock(server.now))
    return TokenVerifier(server.issuer, server.audience, **kwargs)


def make_token_client(server: HostileIssuer, **kwargs: Any) -> TokenClient:
    """A token client of ``server`` with the test deadline."""
    kwargs.setdefault("deadline", DEADLINE)
    return TokenClient(server.issuer, "svc", "secret", scopes=["orders:read"], **kwargs)


# -- the fetch paths ---------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPath:
    """One outbound fetch the product makes: which endpoint to fault and how to call it."""

    name: str
    endpoint: str
    expected: type[OktaGuardError]
    call: Callable[[HostileIssuer], object]
    call_async: Callable[[HostileIssuer], Awaitable[object]]


def _verify(server: HostileIssuer) -> object:
    return make_verifier(server).verify(server.token())


async def _verify_async(server: HostileIssuer) -> object:
    return await make_verifier(server).verify_async(server.token())


def _verify_known_jwks_uri(server: HostileIssuer) -> object:
    return make_verifier(server, jwks_uri=f"{server.issuer}/v1/keys").verify(server.token())


async def _verify_known_jwks_uri_async(server: HostileIssuer) -> object:
    verifier = make_verifier(server, jwks_uri=f"{server.issuer}/v1/keys")
    return await verifier.verify_async(server.token())


def _token(server: HostileIssuer) -> object:
    with make_token_client(server) as client:
        return client.get_token()


async def _token_async(server: HostileIssuer) -> object:
    async with make_token_client(server) as client:
        return await client.get_token_async()


PATHS = [
    FetchPath("discovery", "discovery", IssuerUnavailableError, _verify, _verify_async),
    FetchPath(
        "keys", "keys", IssuerUnavailableError, _verify_known_jwks_uri, _verify_known_jwks_uri_async
    ),
    FetchPath("token", "token", TokenRequestError, _token, _token_async),
]

FAULTS: dict[str, dict[str, Any]] = {
    "drip": {"drip": 0.05, "times": None},
    "stall": {"stall": True, "times": None},
    "gzip-bomb": {"bomb": BOMB, "encoding": "gzip", "times": None},
    "deflate-bomb": {"bomb": BOMB, "encoding": "deflate", "times": None},
}


def _faulted(server: HostileIssuer, path: FetchPath, fault: str) -> None:
    server.fail(path.endpoint, **FAULTS[fault])
    if path.endpoint == "discovery":
        server.fail("keys", **FAULTS[fault])  # the fallback jwks_uri is no way out either


def _bounded(elapsed: float, peak: int) -> None:
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.2f} s"
    assert peak < MEMORY_BOUND, f"allocated {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_sync_fetch_is_bounded(issuer: HostileIssuer, path: FetchPath, fault: str) -> None:
    _faulted(issuer, path, fault)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(path.expected):
            path.call(issuer)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _bounded(elapsed, peak)


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
async def test_async_fetch_is_bounded(issuer: HostileIssuer, path: FetchPath, fault: str) -> None:
    _faulted(issuer, path, fault)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(path.expected):
            await path.call_async(issuer)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _bounded(elapsed, peak)


# -- the callers behind the fetches ------------------------------------------------------


def test_waiting_threads_share_the_deadline(issuer: HostileIssuer) -> None:
    """Threads waiting on a verifier's dripping fetch all get their 503 in time."""
    issuer.fail("keys", drip=0.05, times=None)
    verifier = make_verifier(issuer, jwks_uri=f"{issuer.issuer}/v1/keys")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            verifier.verify(issuer.token())
        except BaseException as exc:  # collected and checked below
            errors.append(exc)

    started = time.monotonic()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(call)
    elapsed = time.monotonic() - started
    assert len(errors) == 8
    assert all(isinstance(e, IssuerUnavailableError) for e in errors)
    assert elapsed < DEADLINE + SLACK
    assert issuer.count("keys") == 1  # still one fetch for all of them


def test_token_client_waiting_threads_share_the_deadline(issuer: HostileIssuer) -> None:
    issuer.fail("token", drip=0.05, times=None)
    errors: list[BaseException] = []
    with make_token_client(issuer) as client:

        def call() -> None:
            try:
                client.get_token()
            except BaseException as exc:  # collected and checked below
                errors.append(exc)

        started = time.monotonic()
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(6) as pool:
            for _ in range(6):
                pool.submit(call)
        elapsed = time.monotonic() - started
    assert len(errors) == 6
    assert all(isinstance(e, TokenRequestError) for e in errors)
    assert elapsed < DEADLINE + SLACK


async def test_async_waiters_share_the_deadline(issuer: HostileIssuer) -> None:
    issuer.fail("keys", stall=True, times=None)
    verifier = make_verifier(issuer, jwks_uri=f"{issuer.issuer}/v1/keys")
    started = time.monotonic()
    results = await asyncio.gather(
        *(verifier.verify_async(issuer.token()) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, IssuerUnavailableError) for r in results)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert issuer.count("keys") == 1


def test_refresh_of_a_warm_cache_is_bounded(issuer: HostileIssuer) -> None:
    """A sync caller that refreshes a due key set inline waits no longer than the deadline."""
    clock = FakeClock(issuer.now)
    verifier = make_verifier(issuer, jwks_uri=f"{issuer.issuer}/v1/keys", clock=clock)
    verifier.verify(issuer.token())
    clock.advance(3590)  # the key set (max-age 3600) is due for a refresh
    issuer.fail("keys", drip=0.05, times=None)
    started = time.monotonic()
    # The refresh fails in time and the last good keys keep serving.
    assert verifier.verify(issuer.token(exp=int(issuer.now) + 7200)).subject == "svc"
    assert time.monotonic() - started < DEADLINE + SLACK


def _protected_app(verifier: TokenVerifier) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from okta_guard import OktaGuardMiddleware

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/hello", hello)])
    return OktaGuardMiddleware(app, verifier=verifier)


async def test_middleware_request_gets_503_in_time(issuer: HostileIssuer) -> None:
    issuer.fail("keys", drip=0.05, times=None)
    verifier = make_verifier(issuer, jwks_uri=f"{issuer.issuer}/v1/keys")
    app = _protected_app(verifier)
    transport = httpx.ASGITransport(app=app)
    started = time.monotonic()
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/hello", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert time.monotonic() - started < DEADLINE + SLACK


async def test_asgi_startup_prewarm_is_bounded(issuer: HostileIssuer) -> None:
    issuer.fail("discovery", stall=True, times=None)
    verifier = make_verifier(issuer)
    app = _protected_app(verifier)
    sent: list[dict[str, Any]] = []
    messages = [{"type": "lifespan.startup"}]
    stop = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"].startswith("lifespan.startup"):
            stop.set()

    started = time.monotonic()
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert sent[0]["type"] == "lifespan.startup.complete"  # not strict: logged, not fatal


# -- odd and empty key sets --------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [[], [{}], "use-enc"],
    ids=["empty", "empty-object", "only-enc"],
)
def test_empty_or_unusable_key_set_keeps_the_last_good_keys(
    issuer: HostileIssuer, keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.verifier_helpers import jwk

    clock = FakeClock(issuer.now)
    verifier = make_verifier(issuer, jwks_uri=f"{issuer.issuer}/v1/keys", clock=clock)
    verifier.verify(issuer.token())
    clock.advance(3600 + 1)
    issuer.fail("keys", keys=[jwk("a", use="enc")] if keys == "use-enc" else keys)
    later = issuer.token(exp=int(issuer.now) + 7200)
    assert verifier.verify(later).subject == "svc"  # served from the last good keys
    assert issuer.count("keys") == 2
    assert "holds no usable signing key" in caplog.text
    assert any(r.levelname == "ERROR" for r in caplog.records)
