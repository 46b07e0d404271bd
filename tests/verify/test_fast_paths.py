"""The hot paths for a repeated token give exactly the answers of the full paths.

``TokenVerifier.verify_cached`` (no parsing, no I/O) and the middleware's use of it
must never accept what :meth:`TokenVerifier.verify` would refuse, and must leave
every request-level check (duplicate headers, tokens in the URL or body, malformed
headers) in place.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_guard.errors import InvalidTokenError
from okta_guard.models import AccessToken
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.scopes import require_scopes
from okta_guard.testing import FakeClock
from tests.support.verifier_helpers import NOW, JwksEndpoint, claims, jwk, token, verifier

# -- TokenVerifier.verify_cached ---------------------------------------------------------


def test_verify_cached_returns_the_verified_token_and_counts_a_hit() -> None:
    v = verifier()
    tok = token()
    assert v.verify_cached(tok) is None  # never seen
    first = v.verify(tok)
    assert v.verify_cached(tok) is first
    assert v.stats.cache_hits == 1
    assert v.stats.accepted == 2


@pytest.mark.parametrize("value", [None, b"abc", 123, ["a"], {"a": 1}])
def test_verify_cached_ignores_non_strings(value: Any) -> None:
    v = verifier()
    assert v.verify_cached(value) is None


def test_verify_cached_never_returns_a_rejected_token() -> None:
    v = verifier()
    bad = token(claims(aud="api://other"))
    with pytest.raises(InvalidTokenError):
        v.verify(bad)
    assert v.verify_cached(bad) is None


def test_verify_cached_rechecks_expiry_every_time() -> None:
    clock = FakeClock(NOW)
    v = verifier(clock=clock)
    tok = token(claims(exp=int(NOW) + 120))
    v.verify(tok)
    clock.advance(120 + 59)
    assert v.verify_cached(tok) is not None  # within the 60 s leeway
    clock.advance(2)
    assert v.verify_cached(tok) is None
    with pytest.raises(InvalidTokenError) as info:
        v.verify(tok)
    assert info.value.reason == "expired"


def test_verify_cached_rechecks_nbf_when_the_clock_goes_back() -> None:
    clock = FakeClock(NOW)
    v = verifier(clock=clock)
    tok = token(claims(nbf=int(NOW)))
    v.verify(tok)
    clock.set(NOW - 61)
    assert v.verify_cached(tok) is None


def test_verify_cached_misses_once_the_key_left_the_key_set() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock=clock)
    tok = token()
    v.verify(tok)
    endpoint.keys = [jwk("b", "kid-b")]
    clock.advance(600)  # the key set is due for a refresh: the fast path steps aside
    assert v.verify_cached(tok) is None
    with pytest.raises(InvalidTokenError):
        v.verify(tok)  # refreshes; kid-a is gone
    assert v.verify_cached(tok) is None
    assert v.stats.cached_tokens == 0


def test_verify_cached_steps_aside_when_a_refresh_is_due() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock=clock)
    tok = token(claims(exp=int(NOW) + 7200))
    v.verify(tok)
    fetches = v.stats.fetches
    clock.advance(600)
    assert v.verify_cached(tok) is None  # no I/O here: verify() does the refresh
    assert v.stats.fetches == fetches
    assert v.verify(tok).subject == "svc"
    assert v.stats.fetches == fetches + 1
    assert v.verify_cached(tok) is not None


# -- the middleware's fast path ----------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.subject, "scopes": sorted(request.auth.scopes)})


def app_for(v: Any) -> Starlette:
    return Starlette(
        routes=[
            Route("/whoami", whoami, methods=["GET", "POST"]),
            Route("/read", require_scopes("orders:read")(whoami)),
            Route("/write", require_scopes("orders:write")(whoami)),
        ],
        middleware=[Middleware(OktaGuardMiddleware, verifier=v)],
    )


async def call(
    app: Any,
    headers: list[tuple[bytes, bytes]],
    *,
    path: str = "/whoami",
    query: bytes = b"",
    method: str = "GET",
    body: bytes = b"",
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def warm() -> tuple[Any, str, Starlette]:
    """A verifier that has already accepted ``tok`` (so requests take the fast path)."""
    v = verifier()
    tok = token()
    v.verify(tok)
    return v, tok, app_for(v)


async def test_cached_token_is_served_without_a_new_verification(
    warm: tuple[Any, str, Starlette],
) -> None:
    v, tok, app = warm
    auth = (b"authorization", b"Bearer " + tok.encode())
    status, body = await call(app, [auth])
    assert status == 200
    assert json.loads(body) == {"sub": "svc", "scopes": ["orders:read"]}
    assert (await call(app, [auth], path="/read"))[0] == 200
    assert (await call(app, [auth], path="/write"))[0] == 403
    assert v.stats.cache_hits == 3
    assert v.stats.cache_misses == 1


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer {t}"), (b"authorization", b"Bearer {t}")],
        [(b"authorization", b"Bearer {t} ")],
        [(b"authorization", b"Bearer {t}x\xc3\xa9")],
        [(b"authorization", b"Bearer\t{t}")],
        [(b"authorization", b"Bearer {t},x")],
    ],
)
async def test_cached_token_does_not_bypass_header_checks(
    warm: tuple[Any, str, Starlette], headers: list[tuple[bytes, bytes]]
) -> None:
    _, tok, app = warm
    filled = [(name, value.replace(b"{t}", tok.encode())) for name, value in headers]
    status, body = await call(app, filled)
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"


async def test_cached_token_with_access_token_in_query_is_400(
    warm: tuple[Any, str, Starlette],
) -> None:
    _, tok, app = warm
    auth = (b"authorization", b"Bearer " + tok.encode())
    status, body = await call(app, [auth], query=b"x=1&access_token=abc")
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"


async def test_cached_token_with_access_token_in_form_body_is_400(
    warm: tuple[Any, str, Starlette],
) -> None:
    _, tok, app = warm
    headers = [
        (b"authorization", b"Bearer " + tok.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    status, body = await call(app, headers, method="POST", body=b"a=1&access_token=abc")
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"
    status, _ = await call(app, headers, method="POST", body=b"a=1")
    assert status == 200


async def test_expired_cached_token_is_refused_by_the_middleware() -> None:
    clock = FakeClock(NOW)
    v = verifier(clock=clock)
    tok = token(claims(exp=int(NOW) + 120))
    v.verify(tok)
    app = app_for(v)
    auth = (b"authorization", b"Bearer " + tok.encode())
    assert (await call(app, [auth]))[0] == 200
    clock.advance(200)
    status, body = await call(app, [auth])
    assert status == 401
    assert json.loads(body)["error"] == "invalid_token"


class _OnlyVerifyAsync:
    """A verifier without ``verify_cached`` on its class (an instance attribute does not count)."""

    issuer = "http://okta.localhost/oauth2/default"
    audience = "api://orders"

    def __init__(self, accepted: AccessToken) -> None:
        self.accepted = accepted
        self.calls = 0
        self.verify_cached = lambda token: accepted  # must be ignored

    async def verify_async(self, token: str) -> AccessToken:
        self.calls += 1
        if token != "good":
            raise InvalidTokenError(reason="bad")
        return self.accepted

    async def prewarm_async(self) -> None:
        return None


async def test_verify_cached_is_only_taken_from_the_verifier_class() -> None:
    fake = _OnlyVerifyAsync(verifier().verify(token()))
    app = app_for(fake)
    assert (await call(app, [(b"authorization", b"Bearer good")]))[0] == 200
    assert (await call(app, [(b"authorization", b"Bearer evil")]))[0] == 401
    assert fake.calls == 2


def test_request_auth_is_built_once_per_token_and_cannot_be_changed() -> None:
    from starlette.authentication import AuthCredentials

    from okta_guard.protect.authenticate import credentials_for

    access = verifier().verify(token(claims(scp=["orders:write", "orders:read"])))
    first, second = credentials_for(access), credentials_for(access)
    assert isinstance(first, AuthCredentials)
    assert first is second  # one object per verified token, not per request
    assert first.scopes == ("orders:read", "orders:write")
    with pytest.raises(AttributeError):
        first.scopes = ["mutated"]  # type: ignore[misc]
    with pytest.raises(AttributeError):
        first.scopes.append("mutated")  # type: ignore[attr-defined]
    other = verifier().verify(token(claims(scp=["orders:read"])))
    assert credentials_for(other) is not first


# -- the parser decodes payload and signature while checking their alphabet --------------


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("foreign", [" ", "=", "+", "/", "!", "\n", "\x00", "\x7f", "*"])
@pytest.mark.parametrize("where", ["start", "middle", "end", "replace"])
def test_any_foreign_byte_in_any_part_is_malformed(part: int, foreign: str, where: str) -> None:
    from okta_guard.verify.jws import parse_token

    parts = token().split(".")
    seg = parts[part]
    if where == "start":
        seg = foreign + seg
    elif where == "middle":
        seg = seg[:7] + foreign + seg[7:]
    elif where == "end":
        seg = seg + foreign
    else:
        seg = seg[:-3] + foreign + seg[-2:]
    parts[part] = seg
    with pytest.raises(InvalidTokenError) as info:
        parse_token(".".join(parts), max_size=8192, algorithms=frozenset({"RS256"}))
    assert info.value.reason == "malformed"


def test_payload_with_nonzero_trailing_bits_is_refused_after_the_signature() -> None:
    from tests.support.verifier_helpers import b64u_json, rsa_key, sign_segments

    head = b64u_json({"alg": "RS256", "kid": "kid-a"})
    payload = b64u_json(claims())
    while len(payload) % 4 not in (2, 3):  # make sure the last character has unused bits
        payload = b64u_json(claims(pad="x" * (len(payload) % 7 + 1)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = payload[:-1] + alphabet[alphabet.index(payload[-1]) + 1]
    signed = sign_segments(rsa_key("a"), head, bumped)  # a valid signature over it
    with pytest.raises(InvalidTokenError) as info:
        verifier().verify(signed)
    assert info.value.reason == "malformed"
    forged = sign_segments(rsa_key("b"), head, bumped)  # wrong key: the signature speaks first
    with pytest.raises(InvalidTokenError) as info:
        verifier().verify(forged)
    assert info.value.reason == "bad_signature"


def test_verify_cached_takes_only_the_exact_bearer_header_form() -> None:
    v = verifier()
    tok = token()
    first = v.verify(tok)
    raw = tok.encode()
    assert v.verify_cached(b"Bearer " + raw) is first
    assert v.verify_cached(raw) is first
    for other in (
        b"bearer " + raw,
        b"Bearer  " + raw,
        b"DPoP " + raw,
        b"Bearer " + raw + b" ",
        b"Basic " + raw,
    ):
        assert v.verify_cached(other) is None
    assert v.verify(tok) is first  # the str form still hits


def test_the_middleware_adds_two_scope_keys_and_leaves_itself_in_the_state() -> None:
    from okta_guard.protect.authenticate import MIDDLEWARE_KEY

    v = verifier()
    tok = token()
    v.verify(tok)
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = OktaGuardMiddleware(app, verifier=v)
    scope = {
        "type": "http",
        "path": "/x",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer " + tok.encode())],
        "state": {},
    }
    before = set(scope)
    import asyncio

    asyncio.run(middleware(scope, None, None))
    assert set(seen) - before == {"user", "auth"}
    assert seen["state"]["access_token"] is seen["user"]
    assert seen["state"][MIDDLEWARE_KEY] is middleware
