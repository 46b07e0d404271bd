"""Every fetch path against a hostile issuer: the documented time and memory bounds hold.

The paths are listed once in :data:`PATHS` (discovery, keys, token, introspection) and
each runs, sync and async, against each body fault of the mock issuer
(:meth:`okta_guard.testing.MockIssuer.start_outage`) served on a real loopback socket:

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from okta_guard import IntrospectionClient, TokenClient, TokenVerifier
from okta_guard.errors import IssuerUnavailableError, OktaGuardError, TokenRequestError
from okta_guard.testing import FakeClock, MockIssuer

#: The total deadline the tests configure (seconds).
DEADLINE = 1.0
#: What the tests allow on top of it: a loaded, shared machine; still far from a hang.
SLACK = 2.5
#: Inflated size of a bomb, and the most a call may allocate meanwhile.
BOMB = 200 * 1024 * 1024
MEMORY_BOUND = 24 * 1024 * 1024


SECRET = "hostile-network-secret"


@pytest.fixture
def issuer() -> Iterator[MockIssuer]:
    with MockIssuer() as okta:  # a real loopback server
        okta.register_client("svc", SECRET, scopes=["orders:read"])
        yield okta


def access_token(okta: MockIssuer) -> str:
    return okta.mint_token(scopes=["orders:read"], client_id="svc")


def keys_url(okta: MockIssuer) -> str:
    return f"{okta.issuer}/v1/keys"


def make_verifier(okta: MockIssuer, **kwargs: Any) -> TokenVerifier:
    """A verifier of ``okta`` with the test deadline."""
    kwargs.setdefault("fetch_deadline", DEADLINE)
    return TokenVerifier(okta.issuer, "api://default", **kwargs)


def make_token_client(okta: MockIssuer, **kwargs: Any) -> TokenClient:
    """A token client of ``okta`` with the test deadline."""
    kwargs.setdefault("deadline", DEADLINE)
    return TokenClient(okta.issuer, "svc", SECRET, scopes=["orders:read"], **kwargs)


# -- the fetch paths ---------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPath:
    """One outbound fetch the product makes: which endpoint to fault and how to call it."""

    name: str
    #: The mock endpoint to fault (``"*"``: every one, e.g. discovery and its fallback).
    endpoint: str
    expected: type[OktaGuardError]
    call: Callable[[MockIssuer], object]
    call_async: Callable[[MockIssuer], Awaitable[object]]


def _verify(okta: MockIssuer) -> object:
    return make_verifier(okta).verify(access_token(okta))


async def _verify_async(okta: MockIssuer) -> object:
    return await make_verifier(okta).verify_async(access_token(okta))


def _verify_known_jwks_uri(okta: MockIssuer) -> object:
    return make_verifier(okta, jwks_uri=keys_url(okta)).verify(access_token(okta))


async def _verify_known_jwks_uri_async(okta: MockIssuer) -> object:
    verifier = make_verifier(okta, jwks_uri=keys_url(okta))
    return await verifier.verify_async(access_token(okta))


def _token(okta: MockIssuer) -> object:
    with make_token_client(okta) as client:
        return client.get_token()


async def _token_async(okta: MockIssuer) -> object:
    async with make_token_client(okta) as client:
        return await client.get_token_async()


def _introspecting_verifier(okta: MockIssuer) -> TokenVerifier:
    introspection = IntrospectionClient(okta.issuer, "svc", SECRET, deadline=DEADLINE)
    verifier = make_verifier(okta, introspection=introspection, introspect_all=True)
    verifier.prewarm()  # the keys are fine: only the introspection answer misbehaves
    return verifier


def _introspect(okta: MockIssuer) -> object:
    return _introspecting_verifier(okta).verify(access_token(okta))


async def _introspect_async(okta: MockIssuer) -> object:
    return await _introspecting_verifier(okta).verify_async(access_token(okta))


#: Every outbound fetch of the product.  Introspection joins here as one more row.
PATHS = [
    # Discovery: the metadata documents and the fallback key URL all misbehave.
    FetchPath("discovery", "*", IssuerUnavailableError, _verify, _verify_async),
    FetchPath(
        "keys", "keys", IssuerUnavailableError, _verify_known_jwks_uri, _verify_known_jwks_uri_async
    ),
    FetchPath("token", "token", TokenRequestError, _token, _token_async),
    # Introspection (RFC 7662) after a good local verification: Okta's answer misbehaves.
    FetchPath(
        "introspection", "introspect", IssuerUnavailableError, _introspect, _introspect_async
    ),
]

FAULTS: dict[str, dict[str, Any]] = {
    "drip": {"drip": 0.05},
    "stall": {"stall": True},
    "gzip-bomb": {"bomb": BOMB, "encoding": "gzip"},
    "deflate-bomb": {"bomb": BOMB, "encoding": "deflate"},
}


def _faulted(okta: MockIssuer, path: FetchPath, fault: str) -> None:
    okta.start_outage(path.endpoint, **FAULTS[fault])


def _bounded(elapsed: float, peak: int) -> None:
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.2f} s"
    assert peak < MEMORY_BOUND, f"allocated {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_sync_fetch_is_bounded(issuer: MockIssuer, path: FetchPath, fault: str) -> None:
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
async def test_async_fetch_is_bounded(issuer: MockIssuer, path: FetchPath, fault: str) -> None:
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


def test_waiting_threads_share_the_deadline(issuer: MockIssuer) -> None:
    """Threads waiting on a verifier's dripping fetch all get their 503 in time."""
    issuer.start_outage("keys", drip=0.05)
    verifier = make_verifier(issuer, jwks_uri=keys_url(issuer))
    token = access_token(issuer)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            verifier.verify(token)
        except BaseException as exc:  # collected and checked below
            errors.append(exc)

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(call)
    elapsed = time.monotonic() - started
    assert len(errors) == 8
    assert all(isinstance(e, IssuerUnavailableError) for e in errors)
    assert elapsed < DEADLINE + SLACK
    assert issuer.count("keys") == 1  # still one fetch for all of them


def test_token_client_waiting_threads_share_the_deadline(issuer: MockIssuer) -> None:
    issuer.start_outage("token", drip=0.05)
    errors: list[BaseException] = []
    with make_token_client(issuer) as client:

        def call() -> None:
            try:
                client.get_token()
            except BaseException as exc:  # collected and checked below
                errors.append(exc)

        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            for _ in range(6):
                pool.submit(call)
        elapsed = time.monotonic() - started
    assert len(errors) == 6
    assert all(isinstance(e, TokenRequestError) for e in errors)
    assert elapsed < DEADLINE + SLACK


async def test_async_waiters_share_the_deadline(issuer: MockIssuer) -> None:
    issuer.start_outage("keys", stall=True)
    verifier = make_verifier(issuer, jwks_uri=keys_url(issuer))
    token = access_token(issuer)
    started = time.monotonic()
    results = await asyncio.gather(
        *(verifier.verify_async(token) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, IssuerUnavailableError) for r in results)
    assert time.monotonic() - started < DEADLINE + SLACK
    assert issuer.count("keys") == 1


def test_refresh_of_a_warm_cache_is_bounded(issuer: MockIssuer) -> None:
    """A sync caller that refreshes a due key set inline waits no longer than the deadline."""
    clock = FakeClock(time.time())
    verifier = make_verifier(
        issuer, jwks_uri=keys_url(issuer), clock=clock, max_key_ttl=600, token_cache_size=0
    )
    token = issuer.mint_token(scopes=["orders:read"], client_id="svc", expires_in=7200)
    verifier.verify(token)
    clock.advance(590)  # the key set (time to live clamped to 600 s) is due for a refresh
    issuer.start_outage("keys", drip=0.05)
    started = time.monotonic()
    # The refresh fails in time and the last good keys keep serving.
    assert verifier.verify(token).client_id == "svc"
    assert time.monotonic() - started < DEADLINE + SLACK
    assert verifier.key_cache.policy.fetch_failures == 1


def _protected_app(verifier: TokenVerifier) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from okta_guard import OktaGuardMiddleware

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/hello", hello)])
    return OktaGuardMiddleware(app, verifier=verifier)


async def test_middleware_request_gets_503_in_time(issuer: MockIssuer) -> None:
    issuer.start_outage("keys", drip=0.05)
    verifier = make_verifier(issuer, jwks_uri=keys_url(issuer))
    app = _protected_app(verifier)
    transport = httpx.ASGITransport(app=app)
    started = time.monotonic()
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get(
            "/hello", headers={"Authorization": f"Bearer {access_token(issuer)}"}
        )
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert time.monotonic() - started < DEADLINE + SLACK


async def test_asgi_startup_prewarm_is_bounded(issuer: MockIssuer) -> None:
    issuer.start_outage("*", stall=True)
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
    "fault",
    [
        {"status": 200, "body": {"keys": []}},
        {"status": 200, "body": {"keys": [{}]}},
        {"keys_patch": {"use": "enc"}},
        {"keys_patch": {"alg": "RS512"}},
    ],
    ids=["empty", "empty-object", "use-enc", "other-alg"],
)
def test_odd_or_empty_key_set_keeps_the_last_good_keys(
    issuer: MockIssuer, fault: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(time.time())
    verifier = make_verifier(
        issuer, jwks_uri=keys_url(issuer), clock=clock, max_key_ttl=600, token_cache_size=0
    )
    token = issuer.mint_token(scopes=["orders:read"], client_id="svc", expires_in=7200)
    verifier.verify(token)
    clock.advance(601)
    issuer.fail_next("keys", **fault)
    assert verifier.verify(token).client_id == "svc"  # served from the last good keys
    assert issuer.count("keys") == 2
    assert "holds no usable signing key" in caplog.text
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_sync_prewarm_is_bounded(issuer: MockIssuer) -> None:
    issuer.start_outage("*", drip=0.05)
    verifier = make_verifier(issuer)
    started = time.monotonic()
    with pytest.raises(IssuerUnavailableError):
        verifier.prewarm()
    assert time.monotonic() - started < DEADLINE + SLACK


async def test_http_auth_of_a_token_client_is_bounded(issuer: MockIssuer) -> None:
    """``client.auth`` asks the token client, whose deadline holds inside an httpx flow."""
    issuer.start_outage("token", stall=True)
    async with make_token_client(issuer) as tokens:
        api = httpx.AsyncClient(
            auth=tokens.auth, transport=httpx.MockTransport(lambda r: httpx.Response(200))
        )
        started = time.monotonic()
        with pytest.raises(TokenRequestError):
            await api.get("http://api.example/orders")
        assert time.monotonic() - started < DEADLINE + SLACK
        await api.aclose()


def test_each_token_attempt_is_bounded_by_the_timeout(issuer: MockIssuer) -> None:
    """``timeout=`` bounds a whole attempt: a dripping answer costs one attempt, then a retry."""
    issuer.start_outage("token", drip=0.05)
    client = make_token_client(issuer, timeout=0.3, deadline=30.0, sleep=lambda _: None)
    started = time.monotonic()
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    elapsed = time.monotonic() - started
    client.close()
    assert info.value.reason == "network_error"
    assert "timeout=0.3" in info.value.description
    assert issuer.count("token") == 3  # every attempt was made, none hung
    assert elapsed < 3 * 0.3 + SLACK
