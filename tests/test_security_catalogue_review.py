"""Security catalogue, second review: the code merged after the first hostile review.

Each test is one row: an input an adversary (or a broken peer) can send to the
several-issuers router, introspection (client, answer parsing, answer cache),
telemetry or the mock's token hook, and the behaviour required of it.  Every
public entry point lets only :class:`~okta_guard.errors.OktaGuardError`
subclasses out, whatever the input.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okta_guard import (
    IntrospectionClient,
    InvalidTokenError,
    IssuerUnavailableError,
    MultiIssuerVerifier,
    OktaGuardError,
    TokenVerifier,
    telemetry,
)
from okta_guard.call.shared_seal import answer_sealer, credential_material
from okta_guard.models import AccessToken
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.introspection import IntrospectionAnswer
from okta_guard.verify.revocation import RevocationCheck

ISSUER = "https://okta.example.com/oauth2/default"
SECRET = "review-secret-" + "q" * 30


def _client_answering(body: bytes, **options: Any) -> IntrospectionClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    return IntrospectionClient(
        ISSUER,
        "introspector",
        SECRET,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        **options,
    )


# -- introspection answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exp", [b"1" + b"0" * 400, b"-1" + b"0" * 400], ids=["10**400", "-10**400"]
)
async def test_introspection_answer_with_a_huge_integer_exp_is_a_503(exp: bytes) -> None:
    client = _client_answering(b'{"active": true, "exp": ' + exp + b"}")
    with pytest.raises(IssuerUnavailableError) as caught:
        client.introspect("tok")
    assert caught.value.reason == "introspection_bad_answer"
    with pytest.raises(IssuerUnavailableError):
        await client.introspect_async("tok")


def test_introspection_answer_from_json_raises_only_value_error_for_a_huge_exp() -> None:
    with pytest.raises(ValueError, match="exp"):
        IntrospectionAnswer.from_json({"active": True, "exp": 10**400})


@pytest.mark.parametrize(
    "body",
    [
        b'{"active": false, "active": true}',
        b'{"active": true, "client_id": "svc", "client_id": "other"}',
        b'{"active": true, "scope": "a", "scope": "admin"}',
    ],
    ids=["active", "client_id", "scope"],
)
def test_introspection_answer_with_duplicate_members_is_refused(body: bytes) -> None:
    # Two values for one member: which one a proxy, a cache or Okta meant is unknowable.
    with pytest.raises(IssuerUnavailableError) as caught:
        _client_answering(body).introspect("tok")
    assert caught.value.reason == "introspection_bad_answer"


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_MEMBERS = st.dictionaries(st.sampled_from(["active", "exp", "scope", "client_id", "iss"]), _JSON)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_MEMBERS | _JSON)
def test_any_introspection_answer_is_parsed_or_a_value_error(doc: Any) -> None:
    try:
        answer = IntrospectionAnswer.from_json(doc)
    except ValueError:
        return
    assert isinstance(answer.active, bool)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=200)
    | _MEMBERS.map(lambda d: json.dumps(d).encode())
    | st.builds(lambda n: b'{"active":true,"exp":' + str(n).encode() + b"}", st.integers())
)
def test_any_introspection_body_gives_an_answer_or_a_503(body: bytes) -> None:
    with contextlib.suppress(IssuerUnavailableError):
        _client_answering(body).introspect("tok")


# -- the introspection answer cache ------------------------------------------------------------


class _DictStore:
    """A shared store as another process sees it: bytes under keys."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.data[key] = value

    async def get_async(self, key: str) -> bytes | None:
        return self.get(key)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        self.set(key, value, ttl)


# What a replica holding the introspection client's credentials seals its answers with.
_SEALER = answer_sealer(credential_material("introspector-" + "s" * 30, None), ISSUER)


def _sealed(check: RevocationCheck, token: str, doc: dict[str, object]) -> bytes:
    return _SEALER.seal(json.dumps(doc).encode(), check.key(token).encode())


class _Revoked:
    issuer = ISSUER
    answer_sealer = _SEALER

    def __init__(self) -> None:
        self.calls = 0

    def introspect(self, token: str) -> IntrospectionAnswer:
        self.calls += 1
        return IntrospectionAnswer(active=False)

    async def introspect_async(self, token: str) -> IntrospectionAnswer:
        return self.introspect(token)


async def test_stored_answer_dated_in_the_future_is_not_reused() -> None:
    # A node whose clock runs far ahead (it holds the credentials: its entries open) must
    # not make an active answer live forever: the token was revoked since, and Okta is
    # asked again.
    now = 1_800_000_000.0
    clock = FakeClock(now)
    token = AccessToken.from_claims(
        {"iss": ISSUER, "aud": "api://default", "exp": now + 3600, "cid": "svc", "scp": ["a"]}
    )
    store = _DictStore()
    introspector = _Revoked()
    check = RevocationCheck(introspector, ISSUER, clock=clock, store=store, fallback=60)
    store.data[check.key("tok")] = _sealed(
        check,
        "tok",
        {"active": True, "scope": "a", "client_id": "svc", "okta_guard_checked_at": now + 86400},
    )
    with pytest.raises(InvalidTokenError) as caught:
        check.check("tok", token)
    assert caught.value.reason == "revoked"
    store.data[check.key("tok")] = _sealed(
        check,
        "tok",
        {"active": True, "scope": "a", "client_id": "svc", "okta_guard_checked_at": now + 86400},
    )
    with pytest.raises(InvalidTokenError):
        await check.check_async("tok", token)
    assert introspector.calls == 2


class _Down:
    issuer = ISSUER
    answer_sealer = _SEALER

    def introspect(self, token: str) -> IntrospectionAnswer:
        raise IssuerUnavailableError("down", reason="introspection_unreachable")

    async def introspect_async(self, token: str) -> IntrospectionAnswer:
        return self.introspect(token)


def test_stored_answer_dated_in_the_future_does_not_stretch_the_fallback() -> None:
    now = 1_800_000_000.0
    token = AccessToken.from_claims(
        {"iss": ISSUER, "aud": "api://default", "exp": now + 3600, "cid": "svc", "scp": ["a"]}
    )
    store = _DictStore()
    check = RevocationCheck(_Down(), ISSUER, clock=FakeClock(now), store=store, fallback=60)
    store.data[check.key("tok")] = _sealed(
        check,
        "tok",
        {"active": True, "scope": "a", "client_id": "svc", "okta_guard_checked_at": now + 3000},
    )
    with pytest.raises(IssuerUnavailableError):
        check.check("tok", token)


# -- telemetry -------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.configure(tracer_provider=provider)
    try:
        yield exporter
    finally:
        telemetry._resolved = False  # back to auto-detection for the other tests
        telemetry._state = None


def _shell_call(url: str) -> int:
    from okta_guard._http import send_sync
    from okta_guard._sansio import Deadline, HttpRequest

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"{}"))
    with httpx.Client(transport=transport) as client:
        return send_sync(client, HttpRequest(url), Deadline(5.0)).status


async def _shell_call_async(url: str) -> int:
    from okta_guard._http import send_async
    from okta_guard._sansio import Deadline, HttpRequest

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"{}"))
    async with httpx.AsyncClient(transport=transport) as client:
        return (await send_async(client, HttpRequest(url), Deadline(5.0))).status


def test_span_never_carries_credentials_of_the_url(spans: Any) -> None:
    # e.g. an explicit jwks_uri with a user and password in it
    assert _shell_call("https://svc:hunter2@okta.example.com/oauth2/default/v1/keys?k=v") == 200
    (span,) = spans.get_finished_spans()
    shown = json.dumps(dict(span.attributes)) + span.name
    assert "hunter2" not in shown and "svc:" not in shown and "k=v" not in shown
    assert span.attributes["url.full"].startswith("https://REDACTED:REDACTED@okta.example.com/")


async def test_telemetry_never_turns_a_bad_url_into_another_exception(spans: Any) -> None:
    # With telemetry on, a port out of range raised ValueError from the span, out of the
    # shells that turn every failure into an answer (``send_sync`` "never raises").
    url = "https://okta.example.com:99999/oauth2/default/v1/keys"
    assert _shell_call(url) == 200
    assert await _shell_call_async(url) == 200


def test_a_failing_span_processor_never_breaks_a_request(spans: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    class BrokenProcessor:
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            raise RuntimeError("processor down")

        def on_end(self, span: Any) -> None:
            raise RuntimeError("processor down")

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    provider = TracerProvider()
    provider.add_span_processor(BrokenProcessor())  # type: ignore[arg-type]
    telemetry.configure(tracer_provider=provider)
    assert not _client_answering(b'{"active": false}').introspect("tok").active


# -- the router ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def router() -> Iterator[MultiIssuerVerifier]:
    okta = MockIssuer(clock=FakeClock())
    okta.add_auth_server("partner", audience="api://partner")
    http = httpx.Client(transport=okta.transport)
    multi = MultiIssuerVerifier(
        [
            TokenVerifier(okta.issuer, okta.audience, clock=okta.clock, http_client=http),
            TokenVerifier(
                okta.issuer_for("partner"), "api://partner", clock=okta.clock, http_client=http
            ),
        ]
    )
    yield multi
    okta.close()


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    token=st.text(max_size=300)
    | st.builds(
        lambda iss, rest: ".".join(
            [
                _b64(b'{"alg":"RS256","kid":"k1"}'),
                _b64(json.dumps({"iss": iss, **rest}).encode()),
                "c2ln",
            ]
        ),
        _JSON,
        st.dictionaries(st.sampled_from(["aud", "cid", "exp"]), _JSON, max_size=3),
    )
)
def test_any_token_to_the_router_is_only_an_okta_guard_error(
    router: MultiIssuerVerifier, token: str
) -> None:
    with pytest.raises(OktaGuardError):
        router.verify(token)


# -- the mock's token hook ---------------------------------------------------------------------


class _BadHook(BaseHTTPRequestHandler):
    mode = "drip"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if self.mode == "drip":
            body = json.dumps(
                {"commands": [{"type": "com.okta.access.patch", "value": []}]}
            ).encode()
            self.send_header("content-length", str(len(body) + 1000))
            self.end_headers()
            try:
                for byte in body + b" " * 1000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                return
        elif self.mode == "huge":
            size = 64 * 1024 * 1024
            self.send_header("content-length", str(size + 2))
            self.end_headers()
            try:
                self.wfile.write(b"[")
                chunk = b" " * (1024 * 1024)
                for _ in range(64):
                    self.wfile.write(chunk)
                self.wfile.write(b"]")
            except OSError:
                return
        else:  # nested
            body = b"[" * 100_000 + b"]" * 100_000
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def bad_hook() -> Iterator[tuple[str, type[_BadHook]]]:
    handler = type("Hook", (_BadHook,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def _mint(okta: MockIssuer) -> httpx.Response:
    with okta.http_client() as client:
        return client.post(
            okta.token_url,
            data={"grant_type": "client_credentials", "scope": "orders:read"},
            auth=("svc", SECRET),
        )


@pytest.mark.parametrize("mode", ["drip", "huge", "nested"])
def test_mock_token_hook_url_that_drips_floods_or_nests_issues_the_token_in_time(
    bad_hook: tuple[str, type[_BadHook]], mode: str
) -> None:
    from okta_guard.testing import TokenHook

    url, handler = bad_hook
    handler.mode = mode
    with MockIssuer() as okta:
        okta.register_client("svc", SECRET, scopes=["orders:read"])
        okta.token_hook = TokenHook(url, timeout=0.5)
        tracemalloc.start()
        started = time.monotonic()
        try:
            response = _mint(okta)
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert response.status_code == 200, response.text
        assert elapsed < 2.0  # Okta's rule: the hook has its timeout, in total
        assert okta.token_hook.failures == 1
        assert peak < 16 * 1024 * 1024  # a 64 MiB answer is not read whole


@pytest.mark.parametrize(
    "path", ["/claims/groups/\u00b2", "/claims/groups/\u00b2/x", "/claims/groups/" + "9" * 5000]
)
def test_mock_token_hook_patch_with_an_odd_array_index_issues_the_token_unmodified(
    path: str,
) -> None:
    def hook(request: dict[str, Any]) -> dict[str, Any]:
        return {"commands": [{"type": "com.okta.access.patch", "value": [
            {"op": "add", "path": "/claims/groups", "value": ["a"]},
            {"op": "replace", "path": path, "value": "x"},
        ]}]}  # fmt: skip

    okta = MockIssuer(token_hook=hook)
    try:
        okta.register_client("svc", SECRET, scopes=["orders:read"])
        response = _mint(okta)
        assert response.status_code == 200, response.text
        assert okta.token_hook is not None and okta.token_hook.failures == 1
    finally:
        okta.close()


# -- endpoints that receive the client's credentials ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://okta.example.com/oauth2/default/v1/x",  # the secret in clear text
        "https://svc:hunter2@okta.example.com/oauth2/default/v1/x",
        "https://okta.example.com:99999/oauth2/default/v1/x",
        "okta.example.com/oauth2/default/v1/x",
        "ftp://okta.example.com/x",
    ],
    ids=["http", "userinfo", "port", "relative", "ftp"],
)
def test_token_and_introspection_urls_must_be_https_without_credentials(url: str) -> None:
    from okta_guard import ConfigurationError, TokenClient

    with pytest.raises(ConfigurationError):
        IntrospectionClient(ISSUER, "introspector", SECRET, introspection_url=url)
    with pytest.raises(ConfigurationError):
        TokenClient(ISSUER, "svc", SECRET, scopes=["a"], token_url=url)


def test_loopback_token_and_introspection_urls_may_use_http() -> None:
    from okta_guard import TokenClient

    url = "http://127.0.0.1:8080/oauth2/default/v1/x"
    assert IntrospectionClient(ISSUER, "i", SECRET, introspection_url=url).introspection_url == url
    assert TokenClient(ISSUER, "svc", SECRET, scopes=["a"], token_url=url).token_url == url


@pytest.mark.parametrize("shell", ["asgi", "transport"])
async def test_mock_keeps_serving_async_callers_while_a_token_hook_runs(shell: str) -> None:
    # The ASGI shell and the in-process transport ran the handler on the event loop: a token
    # hook (up to 3 s, or a hook calling the mock back) froze every other request meanwhile.
    import asyncio

    from okta_guard.testing import TokenHook

    released = threading.Event()

    def hook(event: dict[str, Any]) -> dict[str, Any]:
        released.wait(5.0)  # until the test saw the keys answered
        return {"commands": [{"type": "com.okta.access.patch", "value": [
            {"op": "add", "path": "/claims/tenant", "value": "acme"},
        ]}]}  # fmt: skip

    okta = MockIssuer(token_hook=TokenHook(hook, timeout=2.0))
    okta.register_client("svc", SECRET, scopes=["orders:read"])
    transport: httpx.AsyncBaseTransport = (
        httpx.ASGITransport(app=okta.app) if shell == "asgi" else okta.transport
    )
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            token = asyncio.create_task(
                client.post(
                    okta.token_url,
                    data={"grant_type": "client_credentials", "scope": "orders:read"},
                    auth=("svc", SECRET),
                )
            )
            await asyncio.sleep(0)  # the token request is in the hook now (or about to be)
            keys = await client.get(okta.issuer + "/v1/keys")
            released.set()
            answer = await token
        assert keys.status_code == 200
        assert answer.status_code == 200
        assert okta.token_hook is not None and okta.token_hook.failures == 0
    finally:
        released.set()
        okta.close()


class _StalledStore(_DictStore):
    """A shared store that accepts the connection and never answers (async)."""

    async def get_async(self, key: str) -> bytes | None:
        await asyncio.Event().wait()
        return None

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        await asyncio.Event().wait()


async def test_a_stalled_answer_store_does_not_hold_async_callers() -> None:
    now = 1_800_000_000.0
    token = AccessToken.from_claims(
        {"iss": ISSUER, "aud": "api://default", "exp": now + 3600, "cid": "svc", "scp": ["a"]}
    )
    introspector = _Revoked()
    check = RevocationCheck(
        introspector, ISSUER, clock=FakeClock(now), store=_StalledStore(), store_timeout=0.05
    )
    with pytest.raises(InvalidTokenError) as caught:
        await asyncio.wait_for(check.check_async("tok", token), 5.0)
    assert caught.value.reason == "revoked"
    assert introspector.calls == 1


# -- the outbound shells -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(b'{"keys":[]}' + b" " * 40)[:-8]),  # no trailer
        ("gzip", gzip.compress(b'{"keys":[]}' + b" " * 40)[:-14]),  # cut inside the data
        ("deflate", zlib.compress(b'{"keys":[]}' + b" " * 40)[:-4]),  # no checksum
    ],
    ids=["gzip-trailer", "gzip-data", "deflate-checksum"],
)
def test_a_truncated_compressed_body_is_a_bad_encoding_not_a_fragment(
    encoding: str, body: bytes
) -> None:
    from okta_guard._http import send_sync
    from okta_guard._sansio import Deadline, HttpRequest

    class Truncated(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-encoding", encoding)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Truncated)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/oauth2/default/v1/keys"
    try:
        with httpx.Client() as client:
            answer = send_sync(client, HttpRequest(url), Deadline(5.0))
    finally:
        server.shutdown()
        server.server_close()
    assert answer.error == "encoding" and answer.body == b""


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=200),
    mode=st.sampled_from(["identity", "gzip", "deflate"]),
    cuts=st.lists(st.integers(0, 260), max_size=4),
    limit=st.integers(0, 300),
    keep=st.integers(0, 260),
)
def test_the_decoder_raises_only_its_own_errors_and_respects_its_cap(
    data: bytes, mode: str, cuts: list[int], limit: int, keep: int
) -> None:
    from okta_guard._http import BadEncoding, BodyTooLarge, Decoder

    if mode == "gzip":
        data = gzip.compress(data)[: keep + 20]
    elif mode == "deflate":
        data = zlib.compress(data)[: keep + 8]
    decoder = Decoder(mode, limit)
    try:
        start = 0
        for cut in [*sorted(c for c in set(cuts) if c < len(data)), len(data)]:
            decoder.feed(data[start:cut])
            start = cut
        assert len(decoder.body()) <= limit
    except (BodyTooLarge, BadEncoding):
        pass


def test_introspection_client_from_env_without_an_issuer_is_a_configuration_error() -> None:
    # It raised KeyError('issuer').
    from okta_guard import ConfigurationError

    env = {
        "OKTA_INTROSPECTION_CLIENT_ID": "introspector",
        "OKTA_INTROSPECTION_CLIENT_SECRET": SECRET,
    }
    with pytest.raises(ConfigurationError, match="OKTA_ISSUER"):
        IntrospectionClient.from_env(env)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": float("inf")},
        {"deadline": float("inf")},
        {"timeout": float("nan")},
        {"deadline": 0},
        {"timeout": True},
    ],
    ids=["timeout-inf", "deadline-inf", "timeout-nan", "deadline-0", "timeout-bool"],
)
def test_introspection_client_refuses_an_unbounded_or_odd_time_limit(
    options: dict[str, Any],
) -> None:
    # timeout=inf was accepted: no total deadline at all, and the sync watchdog thread died.
    from okta_guard import ConfigurationError

    with pytest.raises(ConfigurationError):
        IntrospectionClient(ISSUER, "introspector", SECRET, **options)


# -- DPoP-bound tokens and introspection -------------------------------------------------------

_DPOP_URL = "http://testserver/orders"


class _DPoPSetup:
    """A verifier with introspection, a DPoP key, a bound token and proofs for it."""

    def __init__(self, **options: Any) -> None:
        import jwt as pyjwt
        from cryptography.hazmat.primitives.asymmetric import ec

        from okta_guard.verify.dpop import jwk_thumbprint

        self.clock = FakeClock()
        self.okta = MockIssuer(clock=self.clock)
        self.okta.register_client("introspector", SECRET)
        introspection = IntrospectionClient(
            self.okta.issuer,
            "introspector",
            SECRET,
            clock=self.clock,
            http_client=self.okta.http_client(),
            async_http_client=self.okta.async_http_client(),
        )
        self.verifier = TokenVerifier(
            self.okta.issuer,
            self.okta.audience,
            clock=self.clock,
            http_client=self.okta.http_client(),
            async_http_client=self.okta.async_http_client(),
            introspection=introspection,
            **options,
        )
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        self._jwk = {k: public[k] for k in ("kty", "crv", "x", "y")}
        self.token = self.okta.mint_token(
            scopes=["orders:read"],
            client_id="svc",
            claims={"cnf": {"jkt": jwk_thumbprint(self._jwk)}},
        )
        self._proofs = 0

    def proof(self) -> str:
        import base64
        import hashlib

        import jwt as pyjwt

        self._proofs += 1
        ath = base64.urlsafe_b64encode(hashlib.sha256(self.token.encode()).digest())
        claims = {
            "jti": f"proof-{self._proofs}",
            "htm": "GET",
            "htu": _DPOP_URL,
            "iat": int(self.clock()),
            "ath": ath.rstrip(b"=").decode(),
        }
        headers = {"typ": "dpop+jwt", "jwk": self._jwk}
        return pyjwt.encode(claims, self._key, algorithm="ES256", headers=headers)


async def test_introspect_all_also_introspects_dpop_bound_tokens() -> None:
    # verify_dpop skipped introspect_all: a revoked DPoP-bound token kept being accepted.
    s = _DPoPSetup(introspect_all=True)
    try:
        assert s.verifier.verify_dpop(s.token, s.proof(), method="GET", url=_DPOP_URL)
        s.okta.revoke(s.token)
        s.clock.advance(31)  # past the introspection cache time
        with pytest.raises(InvalidTokenError) as caught:
            s.verifier.verify_dpop(s.token, s.proof(), method="GET", url=_DPOP_URL)
        assert caught.value.reason == "revoked"
        with pytest.raises(InvalidTokenError) as caught:
            await s.verifier.verify_dpop_async(s.token, s.proof(), method="GET", url=_DPOP_URL)
        assert caught.value.reason == "revoked"
    finally:
        s.okta.close()


async def test_introspecting_route_accepts_a_dpop_request_and_refuses_it_once_revoked() -> None:
    # The route re-read the token as Bearer credentials only: every DPoP request to an
    # introspect=True route got 401 missing_token, even with a good proof.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from okta_guard import OktaGuardMiddleware, require_scopes

    s = _DPoPSetup()

    @require_scopes("orders:read", introspect=True)
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/orders", orders)])
    app.add_middleware(OktaGuardMiddleware, verifier=s.verifier)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def call() -> httpx.Response:
                headers = {"Authorization": f"DPoP {s.token}", "DPoP": s.proof()}
                return await client.get("/orders", headers=headers)

            accepted = await call()
            assert accepted.status_code == 200, accepted.text
            s.okta.revoke(s.token)
            s.clock.advance(31)
            refused = await call()
            assert refused.status_code == 401
            assert refused.json()["error"] == "invalid_token"
    finally:
        s.okta.close()


def _rsa_jwk(bits: int, exponent: int) -> dict[str, str]:
    import base64
    import secrets

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return {"kty": "RSA", "n": b64(modulus), "e": b64(exponent)}


@pytest.mark.parametrize(
    ("bits", "exponent"),
    [
        (3072, (1 << 3070) | 1),  # a verification costs ~10 ms instead of ~0.1 ms
        (2048, (1 << 40) | 1),
        (2048, 65536),  # even
        (2048, 1),
        (16384, 65537),
    ],
    ids=["e-3071-bits", "e-41-bits", "e-even", "e-1", "n-16384-bits"],
)
def test_dpop_proof_key_with_a_huge_exponent_or_modulus_is_refused_unchecked(
    bits: int, exponent: int
) -> None:
    # The proof's signature is checked before its token: a key that makes that check
    # expensive is refused from its header alone.
    import base64

    from okta_guard.errors import InvalidDPoPProofError

    s = _DPoPSetup()
    try:
        header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": _rsa_jwk(bits, exponent)}
        payload = {"jti": "j", "htm": "GET", "htu": _DPOP_URL, "iat": int(s.clock())}
        proof = (
            ".".join(
                base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
                for part in (header, payload)
            )
            + "."
            + base64.urlsafe_b64encode(b"\x01" * (bits // 8)).rstrip(b"=").decode()
        )
        with pytest.raises(InvalidDPoPProofError) as caught:
            s.verifier.verify_dpop(s.token, proof, method="GET", url=_DPOP_URL)
        assert caught.value.reason == "dpop_jwk"
    finally:
        s.okta.close()


def test_a_full_memory_store_as_replay_store_refuses_instead_of_forgetting_a_proof() -> None:
    # MemoryStore.add dropped the oldest live entry when full: after max_entries further
    # proofs, a captured proof could be replayed.
    from okta_guard.errors import InvalidDPoPProofError, ReplayStoreError
    from okta_guard.store import MemoryStore, StoreFull

    s = _DPoPSetup(replay_store=MemoryStore(max_entries=3))
    try:
        first = s.proof()
        for proof in (first, s.proof(), s.proof()):
            s.verifier.verify_dpop(s.token, proof, method="GET", url=_DPOP_URL)
        with pytest.raises(ReplayStoreError):  # 503: refusing beats forgetting
            s.verifier.verify_dpop(s.token, s.proof(), method="GET", url=_DPOP_URL)
        with pytest.raises(InvalidDPoPProofError) as caught:
            s.verifier.verify_dpop(s.token, first, method="GET", url=_DPOP_URL)
        assert caught.value.reason == "dpop_replay"
    finally:
        s.okta.close()
    cache = MemoryStore(max_entries=2)
    for key in ("a", "b", "c"):  # set() is a cache: the oldest goes
        cache.set(key, b"1", 60)
    assert cache.get("a") is None and cache.get("c") == b"1"
    with pytest.raises(StoreFull):
        cache.add("d", b"1", 60)


async def test_redis_store_with_a_client_without_timeouts_fails_in_time_on_a_stalled_server() -> (
    None
):
    # A redis.asyncio.Redis built without socket timeouts, talking to a server that accepts
    # the connection and never answers, held every async store call (DPoP replay check,
    # shared token cache) for ever.
    import socket
    import time as clock

    import redis.asyncio as aredis

    from okta_guard.redis import RedisStore

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])  # and never answer

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = aredis.Redis(host="127.0.0.1", port=listener.getsockname()[1])
    store = RedisStore(client, socket_timeout=0.2, connect_timeout=0.1)
    try:
        started = clock.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(store.add_async("k", b"1", 10), 4.0)  # 4 s: the hang
        assert clock.monotonic() - started < 2.0
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(store.get_async("k"), 4.0)
        assert clock.monotonic() - started < 4.0
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()
        with contextlib.suppress(Exception):
            await client.aclose()
