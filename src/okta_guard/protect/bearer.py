"""Where a request's access token comes from: the ``Authorization`` header, and nowhere else.

Strict ``Authorization: Bearer`` parsing (RFC 6750 §2.1), the header scan that finds
the one ``Authorization`` value, and the refusal of tokens sent in the query string
or a URL-encoded form body (RFC 6750 §2.2-2.3; form bodies are read only up to
:data:`MAX_FORM_SCAN` bytes).  Pure functions over ASGI data, shared by the
middleware, :func:`~okta_guard.require_scopes` and the FastAPI dependency.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.types import Message, Receive

from okta_guard._grammar import B64TOKEN_CHARS
from okta_guard.errors import InvalidRequestError

__all__ = [
    "MAX_FORM_SCAN",
    "bearer_token",
    "form_has_access_token",
    "query_has_access_token",
    "read_form_prefix",
    "replay",
    "scan_headers",
    "token_in_url_error",
]

#: Largest URL-encoded form body read to look for a smuggled ``access_token``.
MAX_FORM_SCAN = 1 << 20

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_B64TOKEN_CHARS = B64TOKEN_CHARS
_AUTH_SCHEME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORM_TYPE = b"application/x-www-form-urlencoded"


def scan_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """Return the single ``Authorization`` value and whether the body is a URL-encoded form.

    Raises :class:`InvalidRequestError` if ``Authorization`` appears more than once.
    """
    authorization: bytes | None = None
    form = False
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                raise InvalidRequestError(
                    "The request has more than one Authorization header; send exactly one.",
                    reason="duplicate_authorization",
                )
            authorization = value
        elif name == b"content-type" and value[:33].lower() == _FORM_TYPE:
            form = True
    return authorization, form


def bearer_token(authorization: bytes | None) -> str | None:
    """Parse an ``Authorization`` value: the token, ``None`` if not Bearer credentials.

    Raises :class:`InvalidRequestError` for a malformed Bearer header.
    """
    if authorization is None:
        return None
    if authorization[6:7] == b" " and authorization[:6].lower() == b"bearer":
        token = authorization[7:]
        if token[:1] == b" ":
            token = token.lstrip(b" ")
        core = token.rstrip(b"=")
        # translate(None, allowed) deletes every allowed byte: empty means all allowed
        if core and not core.translate(None, _B64TOKEN_CHARS):
            return token.decode("ascii")
    scheme, _, _rest = authorization.partition(b" ")
    if scheme.lower() != b"bearer" and _AUTH_SCHEME.fullmatch(scheme):
        return None  # another scheme (Basic, DPoP...): no bearer credentials
    raise InvalidRequestError(
        "The Authorization header is malformed; send 'Authorization: Bearer <access token>'.",
        reason="malformed_authorization",
    )


def _has_access_token_field(data: bytes) -> bool:
    return any(
        key == "access_token"
        for key, _ in parse_qsl(data.decode("latin-1"), keep_blank_values=True)
    )


def query_has_access_token(query_string: bytes) -> bool:
    """Tell whether the query string carries an ``access_token`` parameter (RFC 6750 §2.3)."""
    if not query_string or (b"access_token" not in query_string and b"%" not in query_string):
        return False
    return _has_access_token_field(query_string)


def form_has_access_token(body: bytes) -> bool:
    """Tell whether a URL-encoded form body carries ``access_token`` (RFC 6750 §2.2)."""
    if b"access_token" not in body and b"%" not in body:
        return False
    return _has_access_token_field(body)


def token_in_url_error() -> InvalidRequestError:
    """The 400 answer for an access token sent in the query string or form body."""
    return InvalidRequestError(
        "Access tokens are accepted only in the Authorization header, "
        "not in the URL or the request body.",
        reason="token_not_in_header",
    )


async def read_form_prefix(receive: Receive) -> tuple[bytes, list[Message]]:
    """Read a request body up to :data:`MAX_FORM_SCAN` bytes (a little more at most: whole
    messages); return what was read and the messages, for :func:`replay`."""
    messages: list[Message] = []
    body = bytearray()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if not message.get("more_body", False) or len(body) > MAX_FORM_SCAN:
            break
    return bytes(body), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that returns ``messages`` first, then reads on from ``receive``."""
    pending = iter(messages)

    async def replaying() -> Message:
        for message in pending:
            return message
        return await receive()

    return replaying
