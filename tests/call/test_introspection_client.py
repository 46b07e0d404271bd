"""IntrospectionClient against the mock Okta: the four auth methods, answers and faults."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from okta_guard import ConfigurationError, IntrospectionClient, IssuerUnavailableError
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.introspection import Introspector

SECRET = "s" * 40


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer(clock=FakeClock())
    try:
        yield issuer
    finally:
        issuer.close()


def client_for(okta: MockIssuer, **options: object) -> IntrospectionClient:
    options.setdefault("client_secret", SECRET)
    okta.register_client(
        "introspector",
        options["client_secret"],  # type: ignore[arg-type]
        public_key=options.pop("public_key", None),  # type: ignore[arg-type]
    )
    return IntrospectionClient(
        okta.issuer,
        "introspector",
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "method", ["client_secret_basic", "client_secret_post", "client_secret_jwt"]
)
async def test_secret_methods(okta: MockIssuer, method: str) -> None:
    client = client_for(okta, auth_method=method)
    assert isinstance(client, Introspector)
    token = okta.mint_token(scopes=["a", "b"], client_id="svc")
    answer = client.introspect(token)
    assert answer.active and answer.scope == frozenset({"a", "b"}) and answer.client_id == "svc"
    assert (await client.introspect_async(token)).active
    okta.revoke(token)
    assert not client.introspect(token).active
    assert not (await client.introspect_async(token)).active


@pytest.mark.parametrize("curve", [None, ec.SECP256R1()])
def test_private_key_jwt(okta: MockIssuer, curve: ec.EllipticCurve | None) -> None:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if curve is None
        else ec.generate_private_key(curve)
    )
    client = client_for(okta, client_secret=None, private_key=key, public_key=key.public_key())
    assert client.auth_method == "private_key_jwt"
    assert client.introspect(okta.mint_token()).active
    form = okta.requests[-1].form
    assert form["client_assertion_type"].endswith("jwt-bearer")
    assert "client_secret" not in form
    assert repr(client).startswith("IntrospectionClient(")


def test_wrong_secret_is_a_503_with_a_logged_fix(
    okta: MockIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(okta)
    bad = IntrospectionClient(
        okta.issuer,
        "introspector",
        "wrong-secret",
        http_client=httpx.Client(transport=okta.transport),
    )
    assert client.introspect(okta.mint_token()).active
    with pytest.raises(IssuerUnavailableError) as info:
        bad.introspect(okta.mint_token())
    assert info.value.reason == "introspection_client_refused"
    assert "introspection client 'introspector'" in caplog.text
    assert "wrong-secret" not in caplog.text


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 503}, "introspection_unavailable"),
        ({"status": 500}, "introspection_unavailable"),
        ({"status": 200, "body": "not json"}, "introspection_bad_answer"),
        ({"status": 200, "body": {"active": "yes"}}, "introspection_bad_answer"),
        (
            {"status": 302, "headers": {"location": "http://evil.example/"}},
            "introspection_unavailable",
        ),
        ({"disconnect": True}, "introspection_unreachable"),
    ],
)
async def test_faults_are_503(okta: MockIssuer, fault: dict[str, object], reason: str) -> None:
    client = client_for(okta)
    token = okta.mint_token()
    okta.fail_next("introspect", **fault)  # type: ignore[arg-type]
    with pytest.raises(IssuerUnavailableError) as info:
        client.introspect(token)
    assert info.value.reason == reason
    okta.fail_next("introspect", **fault)  # type: ignore[arg-type]
    with pytest.raises(IssuerUnavailableError) as info:
        await client.introspect_async(token)
    assert info.value.reason == reason


async def test_429_honours_rate_limit_reset(okta: MockIssuer) -> None:
    client = client_for(okta)
    reset = int(okta.clock()) + 42
    okta.fail_next(
        "introspect",
        429,
        headers={
            "X-Rate-Limit-Limit": "600",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(reset),
        },
    )
    with pytest.raises(IssuerUnavailableError) as info:
        await client.introspect_async(okta.mint_token())
    assert info.value.reason == "introspection_rate_limited"
    assert info.value.retry_after == pytest.approx(42)


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent in 16 KiB chunks, never read ahead by httpx (like a real socket)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.body), 16384):
            yield self.body[i : i + 16384]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def _bomb_transport(encoding: str, size: int) -> httpx.MockTransport:
    raw = b'{"active":true,"pad":"' + b"x" * size + b'"}'
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": encoding}, stream=_Chunks(body))

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_bomb_is_refused_while_decoding(encoding: str) -> None:
    transport = _bomb_transport(encoding, 50_000_000)
    client = IntrospectionClient(
        "https://okta.example.com/oauth2/default",
        "introspector",
        SECRET,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
    )
    with pytest.raises(IssuerUnavailableError) as info:
        client.introspect("t")
    assert info.value.reason == "introspection_too_large"
    with pytest.raises(IssuerUnavailableError) as info:
        await client.introspect_async("t")
    assert info.value.reason == "introspection_too_large"
    small = IntrospectionClient(
        "https://okta.example.com/oauth2/default",
        "introspector",
        SECRET,
        http_client=httpx.Client(transport=_bomb_transport(encoding, 10)),
    )
    assert small.introspect("t").active


def test_from_env_prefers_the_introspection_credentials() -> None:
    env = {
        "OKTA_ISSUER": "https://okta.example.com/oauth2/default",
        "OKTA_CLIENT_ID": "caller",
        "OKTA_CLIENT_SECRET": "caller-secret",
        "OKTA_INTROSPECTION_CLIENT_ID": "introspector",
        "OKTA_INTROSPECTION_CLIENT_SECRET": SECRET,
    }
    assert IntrospectionClient.from_env(env).client_id == "introspector"
    env.pop("OKTA_INTROSPECTION_CLIENT_ID")
    assert IntrospectionClient.from_env(env).client_id == "caller"
    with pytest.raises(ConfigurationError):
        IntrospectionClient.from_env({"OKTA_ISSUER": env["OKTA_ISSUER"]})
    with pytest.raises(ConfigurationError):
        IntrospectionClient(env["OKTA_ISSUER"], "x")  # no secret, no key


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": float("inf")},
        {"timeout": "soon"},
        {"deadline": -1},
        {"deadline": float("nan")},
        {"max_answer_bytes": 63},
        {"max_answer_bytes": True},
        {"max_answer_bytes": 1024.0},
    ],
)
def test_bad_bounds_are_refused_at_construction(options: dict[str, object]) -> None:
    issuer = "https://okta.example.com/oauth2/default"
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        IntrospectionClient(issuer, "introspector", SECRET, **options)  # type: ignore[arg-type]


def test_replicas_with_the_same_private_key_seal_alike() -> None:
    issuer = "https://okta.example.com/oauth2/default"
    key = ec.generate_private_key(ec.SECP256R1())
    one = IntrospectionClient(issuer, "introspector", private_key=key)
    two = IntrospectionClient(issuer, "introspector", private_key=key)
    assert one.auth_method == "private_key_jwt"
    sealed = one.answer_sealer.seal(b"answer", b"key")
    assert two.answer_sealer.open(sealed, b"key") == b"answer"
    assert repr(one.answer_sealer) == "Sealer(***)"
    other = IntrospectionClient(issuer, "introspector", SECRET)
    assert other.answer_sealer.open(sealed, b"key") is None


class _HostileServer:
    """A loopback HTTP server that answers 200 and then drips the body or stalls."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/oauth2/default"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 1000\r\n\r\n"
                )
                while not self.stop.is_set():
                    if self.mode == "drip":
                        try:
                            conn.sendall(b" ")
                        except OSError:
                            break
                    self.stop.wait(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.mark.parametrize("mode", ["drip", "stall"])
async def test_drip_and_stall_end_at_the_deadline(mode: str) -> None:
    server = _HostileServer(mode)
    try:
        client = IntrospectionClient(
            server.issuer, "introspector", SECRET, timeout=0.3, deadline=0.6
        )
        started = time.monotonic()
        with pytest.raises(IssuerUnavailableError) as info:
            client.introspect("t")
        assert time.monotonic() - started < 3.0
        assert info.value.reason == "introspection_timeout"
        started = time.monotonic()
        with pytest.raises(IssuerUnavailableError) as info:
            await client.introspect_async("t")
        assert time.monotonic() - started < 3.0
        assert info.value.reason == "introspection_timeout"
        await client.aclose()
    finally:
        server.close()


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"drip": 0.2}, "introspection_timeout"),
        ({"stall": True}, "introspection_timeout"),
        ({"bomb": 5_000_000, "encoding": "gzip"}, "introspection_too_large"),
        ({"bomb": 5_000_000, "encoding": "deflate"}, "introspection_too_large"),
    ],
)
async def test_mock_body_faults_on_a_real_socket(fault: dict[str, object], reason: str) -> None:
    with MockIssuer() as okta:
        okta.register_client("introspector", SECRET)
        client = IntrospectionClient(okta.issuer, "introspector", SECRET, timeout=0.5, deadline=1.0)
        token = okta.mint_token()
        okta.fail_next("introspect", **fault)  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(IssuerUnavailableError) as info:
            client.introspect(token)
        assert info.value.reason == reason
        okta.fail_next("introspect", **fault)  # type: ignore[arg-type]
        with pytest.raises(IssuerUnavailableError) as info:
            await client.introspect_async(token)
        assert info.value.reason == reason
        assert time.monotonic() - started < 6.0
        assert client.introspect(token).active  # and the next, normal answer is fine
        await client.aclose()
        client.close()
