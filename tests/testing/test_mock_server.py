"""The loopback server: no Nagle wait on keep-alive, and Okta-like answers to bad requests."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okta_guard.testing import MockIssuer
from okta_guard.testing.server import MAX_REQUEST_BODY

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "orders:read"}
CLI = [sys.executable, "-m", "okta_guard"]
NAGLE_BOUND = 0.020  # Nagle + delayed ACK costs ~40 ms a round trip; a fixed server ~1 ms


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        issuer.register_client("svc", "s3cret", scopes=["orders:read"])
        yield issuer


def _best_round_trip(call: Callable[[], httpx.Response], rounds: int = 15) -> float:
    call().raise_for_status()  # connect (and handshake) outside the measurement
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        call().raise_for_status()
        best = min(best, time.perf_counter() - started)
    return best


def _assert_no_nagle(issuer: str, verify: object = True) -> None:
    with httpx.Client(verify=verify, trust_env=False) as client:  # type: ignore[arg-type]
        keys = _best_round_trip(lambda: client.get(issuer + "/v1/keys"))
        token = _best_round_trip(
            lambda: client.post(issuer + "/v1/token", data=TOKEN_FORM, auth=("svc", "s3cret"))
        )
        assert client.get(issuer + "/v1/keys").http_version == "HTTP/1.1"
    # a detector, not a benchmark: every keep-alive round trip pays Nagle's wait,
    # so even the best one of fifteen stays above the bound when it is back
    assert keys < NAGLE_BOUND, f"keep-alive GET /v1/keys took {keys * 1000:.1f} ms"
    assert token < NAGLE_BOUND, f"keep-alive POST /v1/token took {token * 1000:.1f} ms"


def test_keep_alive_round_trip_has_no_nagle_wait(okta: MockIssuer) -> None:
    _assert_no_nagle(okta.issuer)


def test_keep_alive_round_trip_has_no_nagle_wait_over_tls() -> None:
    with MockIssuer(tls=True) as okta:
        okta.register_client("svc", "s3cret", scopes=["orders:read"])
        _assert_no_nagle(okta.issuer, okta.client_ssl_context)


def test_keep_alive_round_trip_has_no_nagle_wait_from_the_cli() -> None:
    proc = subprocess.Popen(
        [*CLI, "mock-issuer", "--port", "0", "--client", "svc:s3cret:orders:read"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        _assert_no_nagle(proc.stdout.readline().strip())
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_connection_close_is_honoured(okta: MockIssuer) -> None:
    with httpx.Client(headers={"Connection": "close"}, trust_env=False) as client:
        first = client.get(okta.jwks_uri)
        second = client.get(okta.jwks_uri)
    assert first.headers["connection"] == "close"
    assert second.status_code == 200


# -- malformed requests --------------------------------------------------------------


def _raw(okta: MockIssuer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; return (status, headers, body) of the one answer."""
    assert okta.port is not None
    with socket.create_connection(("127.0.0.1", okta.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        pairs = (line.split(": ", 1) for line in lines[1:])
        headers = {name.lower(): value for name, value in pairs}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk
            body += chunk
    return int(lines[0].split()[1]), headers, body


def _post(path: str, headers: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode("latin-1") + body


TOKEN_PATH = "/oauth2/default/v1/token"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Content-Length: abc\r\n", b""),
        ("Content-Length: -5\r\n", b""),
        ("Content-Length: \u00b2\r\n", b""),
        ("Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
        ("Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", b"3\r\nabcXYZ"),
        ("Transfer-Encoding: gzip\r\n", b""),
        ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
    ],
)
def test_malformed_framing_gets_400_and_the_server_stays_up(
    okta: MockIssuer, headers: str, body: bytes
) -> None:
    status, answer_headers, answer = _raw(okta, _post(TOKEN_PATH, headers, body))
    assert status == 400
    assert answer_headers["connection"] == "close"
    assert json.loads(answer)["errorCode"] == "E0000003"
    assert httpx.get(okta.jwks_uri, trust_env=False).status_code == 200


def test_chunked_body_is_read(okta: MockIssuer) -> None:
    form = b"grant_type=client_credentials&scope=orders%3Aread"
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (form[:10], form[10:]))
        + b"0\r\nX-Trailer: 1\r\n\r\n"
    )
    credentials = base64.b64encode(b"svc:s3cret").decode()
    status, _headers, body = _raw(
        okta,
        _post(
            TOKEN_PATH,
            "Transfer-Encoding: chunked\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Authorization: Basic {credentials}\r\n",
            chunked,
        ),
    )
    assert status == 200 and "access_token" in json.loads(body)


def test_non_ascii_basic_credentials_get_401(okta: MockIssuer) -> None:
    request = _post(
        TOKEN_PATH,
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Authorization: Basic \u00e9\u00e8\u00ff==\r\nContent-Length: 0\r\n",
    )
    status, headers, body = _raw(okta, request)
    assert status == 401
    assert json.loads(body)["error"] == "invalid_client"
    assert headers["www-authenticate"] == 'Basic realm="Okta"'


def test_basic_credentials_of_non_utf8_bytes_get_401(okta: MockIssuer) -> None:
    encoded = base64.b64encode(b"\xff\xfe:\xff").decode()
    with httpx.Client(trust_env=False) as client:
        response = client.post(
            okta.token_url, data=TOKEN_FORM, headers={"Authorization": f"Basic {encoded}"}
        )
    assert response.status_code == 401


def test_oversized_body_gets_413_without_being_read(okta: MockIssuer) -> None:
    headers = f"Content-Length: {50 * 1024 * 1024}\r\n"
    status, answer_headers, body = _raw(okta, _post(TOKEN_PATH, headers, b"x" * 1000))
    assert status == 413
    assert answer_headers["connection"] == "close"
    assert str(MAX_REQUEST_BODY) in json.loads(body)["errorSummary"]
    assert okta.count("token") == 0  # refused at the door, like Okta's front end


def test_oversized_chunked_body_gets_413(okta: MockIssuer) -> None:
    size = MAX_REQUEST_BODY + 1
    status, _headers, _body = _raw(
        okta, _post(TOKEN_PATH, "Transfer-Encoding: chunked\r\n", b"%x\r\n" % size)
    )
    assert status == 413


def test_body_at_the_limit_is_accepted(okta: MockIssuer) -> None:
    body = b"grant_type=client_credentials&scope=orders%3Aread&pad="
    body += b"x" * (MAX_REQUEST_BODY - len(body))
    with httpx.Client(trust_env=False) as client:
        response = client.post(
            okta.token_url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=("svc", "s3cret"),
        )
    assert response.status_code == 200


def test_a_handler_error_is_a_500_answer(okta: MockIssuer, capsys: pytest.CaptureFixture) -> None:
    def broken(request: object) -> object:
        raise RuntimeError("boom")

    okta._server._server.mock_handler = broken  # type: ignore[union-attr]
    response = httpx.get(okta.jwks_uri, trust_env=False)
    assert response.status_code == 500
    assert response.json()["errorCode"] == "E0000009"
    assert "boom" in capsys.readouterr().err


async def test_in_process_shells_bound_the_body_too() -> None:
    okta = MockIssuer()
    try:
        big = b"x" * (MAX_REQUEST_BODY + 1)
        with okta.http_client() as client:
            direct = client.post(okta.token_url, content=big)
        asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=okta.app), base_url="http://x")
        async with asgi:
            mounted = await asgi.post("/oauth2/default/v1/token", content=big)
        for response in (direct, mounted):
            assert response.status_code == 413
            assert response.json()["errorCode"] == "E0000003"
        assert okta.count("token") == 0
    finally:
        okta.close()


def test_unknown_method_is_405_like_okta() -> None:
    with MockIssuer() as okta:
        assert okta.port is not None
        with socket.create_connection(("127.0.0.1", okta.port), timeout=5) as sock:
            sock.sendall(b"BREW /oauth2/default/v1/keys HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405 ")
        assert json.loads(body)["errorCode"] == "E0000022"
        assert okta.count("keys") == 0


_FRAGMENTS = st.sampled_from(
    [
        b"POST /oauth2/default/v1/token HTTP/1.1\r\n",
        b"GET /oauth2/default/v1/keys HTTP/1.0\r\n",
        b"GARBAGE\r\n",
        b"Host: x\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Content-Length: 0x10\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked, gzip\r\n",
        b"Authorization: Basic \xff\xfe\r\n",
        b"Authorization: Basic =====\r\n",
        b"Expect: 100-continue\r\n",
        b"Connection: close\r\n",
        b"\r\n",
        b"ffffffffffffffffff\r\n",
        b"-1\r\n",
        b"5;ext=1\r\nabcde\r\n0\r\n\r\n",
        b"abcde",
    ]
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[MockIssuer, httpx.Client]]:
    with MockIssuer() as issuer, httpx.Client(trust_env=False) as client:
        yield issuer, client


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(_FRAGMENTS, min_size=1, max_size=8))
def test_raw_garbage_never_takes_the_server_down(
    shared_server: tuple[MockIssuer, httpx.Client], parts: list[bytes]
) -> None:
    okta, client = shared_server  # one server for every example: it must survive them all
    assert okta.port is not None
    with socket.create_connection(("127.0.0.1", okta.port), timeout=5) as sock:
        sock.sendall(b"".join(parts))
        sock.shutdown(socket.SHUT_WR)  # the server sees the end of the request
        answer = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while chunk := sock.recv(65536):
                answer += chunk
    if answer:
        assert answer.startswith(b"HTTP/1.")
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:200]
    assert client.get(okta.jwks_uri).status_code == 200
