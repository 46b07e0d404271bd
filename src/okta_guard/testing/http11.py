"""The HTTP/1.1 wire format of the mock's loopback server: strict request reading, answer heads.

The stdlib's ``BaseHTTPRequestHandler`` parses header fields with the ``email``
package: ~25 us for the eight fields of a typical client, where this reader
reads the whole head, request line and checks included, in ~9 us.  The mock
needs much less than ``email`` offers: a request line, header fields (names
lower-cased; the last of a repeated field wins, as before), the body by
``Content-Length`` or chunked, ``Connection`` and ``Expect: 100-continue``.
Anything else is refused the way a strict front door refuses it:
:class:`BadRequest` carries the status (400, 405, 413, 414, 431 or 505) and
Okta's error code, and the connection is closed after the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO

from .records import MAX_REQUEST_BODY

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE",
    "METHODS",
    "BadRequest",
    "RequestHead",
    "read_body",
    "read_head",
    "response_head",
]

MAX_LINE = 65536
"""The longest request line or header line read (longer: 414 or 431, like the stdlib)."""

MAX_HEADERS = 100
"""The most header fields a request may have (more: 431)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
"""The methods the server passes on; Okta answers any other with 405 ``E0000022``."""

_MAX_CHUNK_LINE = 1024
_MAX_TRAILERS = 100
_MAX_LEADING_EMPTY_LINES = 8  # RFC 9112 §2.2: ignore empty lines before a request line
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_LINE_ENDS = (b"\r\n", b"\n")


class BadRequest(Exception):
    """A request refused before the handler sees it: its status, Okta code and summary."""

    def __init__(self, status: int, summary: str, code: str = "E0000003") -> None:
        super().__init__(summary)
        self.status = status
        self.summary = summary
        self.code = code


@dataclass(frozen=True)
class RequestHead:
    """The request line and header fields of one request (names lower-case)."""

    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool
    length: int | None
    """The body's ``Content-Length``; ``None`` for a chunked body."""
    expects_continue: bool
    """Whether the client waits for ``100 Continue`` before it sends its body."""


def read_head(rfile: BinaryIO) -> RequestHead | None:
    """Read one request's head; ``None`` if the client hung up (or sent no complete head).

    Raises :class:`BadRequest` for a malformed request line, header field or framing.
    """
    line = rfile.readline(MAX_LINE + 1)
    for _ in range(_MAX_LEADING_EMPTY_LINES):
        if line not in _LINE_ENDS:
            break
        line = rfile.readline(MAX_LINE + 1)
    if not line or line in _LINE_ENDS:
        return None
    if len(line) > MAX_LINE:
        raise BadRequest(414, "Request-URI Too Long")
    words = line.split()
    if len(words) != 3:
        raise BadRequest(400, "Bad request syntax")
    method, target, version = words
    match = _VERSION.fullmatch(version)
    if match is None:
        raise BadRequest(400, "Bad request version")
    if match.group(1) != b"1":
        raise BadRequest(505, "Invalid HTTP version")
    headers = _read_fields(rfile)
    if headers is None:
        return None
    name = method.decode("latin-1")
    if name not in METHODS:
        raise BadRequest(405, "The endpoint does not support the provided HTTP method", "E0000022")
    http11 = match.group(2) != b"0"
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens and (http11 or "keep-alive" in tokens)
    length = _framing(headers)
    expects_continue = (
        http11 and length != 0 and headers.get("expect", "").strip().lower() == "100-continue"
    )
    return RequestHead(
        name, target.decode("latin-1"), headers, keep_alive, length, expects_continue
    )


def _read_fields(rfile: BinaryIO) -> dict[str, str] | None:
    """Header fields up to the empty line; ``None`` at the end of the stream before it."""
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(MAX_LINE + 1)
        if line in _LINE_ENDS:
            return headers
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE:
                raise BadRequest(431, "Line too long")
            return None  # the client hung up half way
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:  # also obs-fold and "Name :"
            raise BadRequest(400, "The request has an invalid header field.")
        value = value.strip(b" \t\r\n")
        if _BAD_VALUE.search(value):
            raise BadRequest(400, "The request has an invalid header field.")
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        if key == "content-length" and headers.get(key, text) != text:
            raise BadRequest(400, "The Content-Length header is invalid.")
        if key == "transfer-encoding" and key in headers:
            text = f"{headers[key]}, {text}"
        headers[key] = text
    raise BadRequest(431, "Too many headers")


def _framing(headers: dict[str, str]) -> int | None:
    """The body length (``None``: chunked), checked like a strict front door checks it."""
    encoding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if encoding is not None:
        if encoding.strip().lower() != "chunked" or length is not None:
            raise BadRequest(400, "The request framing is invalid.")
        return None
    if length is None:
        return 0
    if not length.isdigit() or not length.isascii():
        raise BadRequest(400, "The Content-Length header is invalid.")
    size = int(length)
    if size > MAX_REQUEST_BODY:
        raise BadRequest(413, f"The request body is larger than {MAX_REQUEST_BODY} bytes.")
    return size


def read_body(rfile: BinaryIO, head: RequestHead) -> bytes:
    """Read the body framed by ``head`` (at most :data:`MAX_REQUEST_BODY` bytes)."""
    if head.length is None:
        return _read_chunked(rfile)
    if not head.length:
        return b""
    body = rfile.read(head.length)
    if len(body) != head.length:
        raise BadRequest(400, "The request body is shorter than its Content-Length.")
    return body


def _read_chunked(rfile: BinaryIO) -> bytes:
    chunks = bytearray()
    while True:
        line = rfile.readline(_MAX_CHUNK_LINE + 1)
        digits = line.split(b";")[0].strip()
        if len(line) > _MAX_CHUNK_LINE or not _is_hex(digits):
            raise BadRequest(400, "The request has an invalid chunk size.")
        size = int(digits, 16)
        if size == 0:
            for _ in range(_MAX_TRAILERS):
                if rfile.readline(_MAX_CHUNK_LINE + 1) in (*_LINE_ENDS, b""):
                    return bytes(chunks)
            raise BadRequest(400, "The request has too many trailers.")
        if len(chunks) + size > MAX_REQUEST_BODY:
            raise BadRequest(413, f"The request body is larger than {MAX_REQUEST_BODY} bytes.")
        data = rfile.read(size)
        if len(data) != size or rfile.readline(3) not in _LINE_ENDS:
            raise BadRequest(400, "The request has a truncated chunk.")
        chunks += data


def _is_hex(digits: bytes) -> bool:
    return 0 < len(digits) <= 16 and all(c in b"0123456789abcdefABCDEF" for c in digits)


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """The status line and header fields of an answer, ready to send."""
    lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
