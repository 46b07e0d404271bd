"""The loopback server's own HTTP/1.1 reader: strict like a front door, cheap, keep-alive."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import pytest

from okta_guard.testing import MockIssuer
from okta_guard.testing.http11 import MAX_HEADERS, MAX_LINE
from okta_guard.testing.server import MAX_REQUEST_BODY

KEYS = "/oauth2/default/v1/keys"
TOKEN = "/oauth2/default/v1/token"
FORM = b"grant_type=client_credentials&scope=orders%3Aread"
BASIC = "Basic " + base64.b64encode(b"svc:s3cret").decode()

Answer = tuple[int, dict[str, str], bytes]


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        issuer.register_client("svc", "s3cret", scopes=["orders:read"])
        yield issuer


class _Wire:
    """A raw client connection: send bytes, read whole answers (framed by Content-Length)."""

    def __init__(self, okta: MockIssuer) -> None:
        assert okta.port is not None
        self.sock = socket.create_connection(("127.0.0.1", okta.port), timeout=5)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self, *, head_only: bool = False) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"closed without an answer: {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        """Whether the server closed the connection (after any answers were read)."""
        return not self.buffer and not self._fill()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(okta: MockIssuer) -> Iterator[_Wire]:
    connection = _Wire(okta)
    yield connection
    connection.close()


def _request(method: str, target: str, headers: str = "", body: bytes = b"") -> bytes:
    if body:
        headers += f"Content-Length: {len(body)}\r\n"
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode("latin-1") + body


def _token_request(extra: str = "") -> bytes:
    headers = f"Content-Type: application/x-www-form-urlencoded\r\nAuthorization: {BASIC}\r\n"
    return _request("POST", TOKEN, headers + extra, FORM)


def test_pipelined_requests_on_one_connection_are_answered_in_order(
    okta: MockIssuer, wire: _Wire
) -> None:
    wire.send(_request("GET", KEYS) + _token_request() + _request("GET", KEYS))
    statuses = [wire.answer()[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert [r.endpoint for r in okta.requests] == ["keys", "token", "keys"]


def test_header_names_are_case_insensitive_and_values_trimmed(wire: _Wire) -> None:
    headers = "content-TYPE:application/x-www-form-urlencoded  \r\n"
    wire.send(_request("POST", TOKEN, f"AUTHORIZATION:\t{BASIC}\r\n{headers}", FORM))
    status, _headers, body = wire.answer()
    assert status == 200 and "access_token" in json.loads(body)


def test_empty_lines_before_a_request_are_ignored(wire: _Wire) -> None:
    wire.send(b"\r\n\r\n" + _request("GET", KEYS))
    assert wire.answer()[0] == 200


def test_head_gets_the_headers_without_a_body(wire: _Wire) -> None:
    wire.send(_request("HEAD", KEYS) + _request("GET", KEYS))
    status, headers, _ = wire.answer(head_only=True)
    assert status == 200 and int(headers["content-length"]) > 0
    status, _, body = wire.answer()  # the next answer starts right after the head
    assert status == 200 and json.loads(body)["keys"]


def test_expect_100_continue_gets_the_interim_answer_first(wire: _Wire) -> None:
    request = _token_request("Expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    wire.send(head + b"\r\n\r\n")
    assert wire.answer()[0] == 100  # only now does the client send its body
    wire.send(body)
    status, _, answer = wire.answer()
    assert status == 200 and "access_token" in json.loads(answer)


def test_expect_100_continue_with_a_body_too_large_gets_413_without_100(
    okta: MockIssuer, wire: _Wire
) -> None:
    length = f"Content-Length: {MAX_REQUEST_BODY + 1}\r\n"
    wire.send(_request("POST", TOKEN, f"Expect: 100-continue\r\n{length}"))
    status, headers, _ = wire.answer()
    assert status == 413 and headers["connection"] == "close"
    assert wire.closed()
    assert okta.count("token") == 0


def test_http_1_1_keeps_the_connection_and_http_1_0_closes_it(wire: _Wire) -> None:
    wire.send(f"GET {KEYS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert "connection" not in wire.answer()[1]
    wire.send(f"GET {KEYS} HTTP/1.0\r\n\r\n".encode())  # on the same connection
    _, headers, _ = wire.answer()
    assert headers["connection"] == "close"
    assert wire.closed()


def test_http_1_0_keep_alive_and_http_1_1_close_are_honoured(wire: _Wire) -> None:
    wire.send(f"GET {KEYS} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
    assert wire.answer()[0] == 200
    wire.send(f"GET {KEYS} HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, close\r\n\r\n".encode())
    _, headers, _ = wire.answer()
    assert headers["connection"] == "close"
    assert wire.closed()


def test_identical_repeated_content_length_is_accepted(wire: _Wire) -> None:
    wire.send(_token_request(f"Content-Length: {len(FORM)}\r\n"))
    assert wire.answer()[0] == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (f"GET {KEYS} HTTP/2.0\r\nHost: x\r\n\r\n".encode(), 505),
        (f"GET {KEYS} HTTP/1.1.1\r\nHost: x\r\n\r\n".encode(), 400),
        (f"GET {KEYS} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode(), 400),
        (f"GET {KEYS}\r\nHost: x\r\n\r\n".encode(), 400),  # HTTP/0.9: not served
        (b"GET /" + b"a" * MAX_LINE + b" HTTP/1.1\r\n\r\n", 414),
        (_request("GET", KEYS, "X-Long: " + "a" * MAX_LINE + "\r\n"), 431),
        (_request("GET", KEYS, "X-Many: 1\r\n" * MAX_HEADERS), 431),
        (_request("GET", KEYS, "Host : x\r\n"), 400),  # whitespace before the colon
        (_request("GET", KEYS, "X-Folded: a\r\n b\r\n"), 400),  # obs-fold
        (_request("GET", KEYS, "No colon here\r\n"), 400),
        (_request("GET", KEYS, "X-Bad: a\rb\r\n"), 400),  # a bare CR in a value
        (_request("GET", KEYS, "X-Bad: a\x00b\r\n"), 400),
        (_request("get", KEYS), 405),  # methods are case-sensitive
    ],
)
def test_malformed_heads_get_an_okta_error_and_the_connection_closes(
    okta: MockIssuer, wire: _Wire, request_bytes: bytes, status: int
) -> None:
    wire.send(request_bytes)
    answer_status, headers, body = wire.answer()
    assert answer_status == status
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["errorCode"] in ("E0000003", "E0000009", "E0000022")
    assert wire.closed()
    assert okta.requests == []  # refused at the door


def test_a_client_that_hangs_up_half_way_gets_no_answer(okta: MockIssuer, wire: _Wire) -> None:
    wire.send(f"GET {KEYS} HTTP/1.1\r\nHost: x\r\n".encode())
    wire.sock.shutdown(socket.SHUT_WR)
    assert wire.closed()
    assert okta.requests == []
