"""Token inline hooks: patches applied like Okta, failures issue the token unmodified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from okta_guard.testing import FakeClock, MockIssuer, TokenHook

FORM = {"grant_type": "client_credentials", "scope": "orders:read"}


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"commands": [{"type": "com.okta.access.patch", "value": list(operations)}]}


def _token(okta: MockIssuer) -> tuple[int, dict[str, Any]]:
    with okta.http_client() as client:
        response = client.post(okta.token_url, data=FORM, auth=("svc", "s3cret"))
    return response.status_code, response.json()


def _claims(body: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(body["access_token"], options={"verify_signature": False})


@pytest.fixture
def okta() -> Iterator[MockIssuer]:
    issuer = MockIssuer()
    issuer.register_client("svc", "s3cret", scopes=["orders:read"])
    yield issuer
    issuer.close()


def test_hook_adds_replaces_and_removes_claims(okta: MockIssuer) -> None:
    seen: list[dict[str, Any]] = []

    def hook(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return _patch(
            {"op": "add", "path": "/claims/tenant", "value": "acme"},
            {"op": "add", "path": "/claims/roles", "value": ["reader"]},
            {"op": "add", "path": "/claims/roles/-", "value": "auditor"},
            {"op": "replace", "path": "/claims/sub", "value": "service:svc"},
            {"op": "replace", "path": "/token/lifetime/expiration", "value": 600},
        )

    okta.token_hook = hook
    status, body = _token(okta)
    claims = _claims(body)
    assert status == 200
    assert claims["tenant"] == "acme" and claims["roles"] == ["reader", "auditor"]
    assert claims["sub"] == "service:svc"
    assert claims["exp"] - claims["iat"] == 600 and body["expires_in"] == 600
    event = seen[0]
    assert event["eventType"] == "com.okta.oauth2.tokens.transform"
    assert event["data"]["access"]["claims"]["cid"] == "svc"
    assert event["data"]["access"]["token"]["lifetime"]["expiration"] == 3600
    assert event["data"]["context"]["protocol"]["issuer"]["uri"] == okta.issuer
    assert event["eventTime"].endswith("Z") and event["eventTime"][:4].isdigit()
    assert okta.token_hook is not None and okta.token_hook.calls == 1


def test_event_time_follows_the_mock_clock() -> None:
    okta = MockIssuer(clock=FakeClock(1_800_000_000))
    okta.register_client("svc", "s3cret", scopes=["orders:read"])
    seen: list[str] = []
    okta.token_hook = lambda event: seen.append(event["eventTime"])
    try:
        _token(okta)
    finally:
        okta.close()
    assert seen == ["2027-01-15T08:00:00.000Z"]


def test_remove_claim(okta: MockIssuer) -> None:
    okta.token_hook = lambda event: _patch({"op": "remove", "path": "/claims/sub"})
    assert "sub" not in _claims(_token(okta)[1])


@pytest.mark.parametrize(
    "answer",
    [
        _patch({"op": "replace", "path": "/claims/cid", "value": "evil"}),  # reserved claim
        _patch({"op": "replace", "path": "/claims/scp", "value": ["admin"]}),
        _patch({"op": "add", "path": "/claims/cnf", "value": {"jkt": "x"}}),
        _patch({"op": "replace", "path": "/claims/missing", "value": 1}),
        _patch({"op": "replace", "path": "/token/lifetime/expiration", "value": 10}),
        _patch({"op": "move", "path": "/claims/a", "value": 1}),
        _patch({"op": "add", "path": "/claims/ok", "value": 1}, {"op": "add", "path": "/x"}),
        {"commands": "nope"},
        {"commands": [{"type": "com.okta.access.patch", "value": "nope"}]},
        None,
        ["not", "an", "object"],
    ],
)
def test_bad_answers_issue_the_token_unmodified(okta: MockIssuer, answer: Any) -> None:
    okta.token_hook = lambda event: answer
    status, body = _token(okta)
    claims = _claims(body)
    assert status == 200
    assert claims["cid"] == "svc" and claims["scp"] == ["orders:read"] and "ok" not in claims
    assert "cnf" not in claims and body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600


def test_hook_that_raises_is_down(okta: MockIssuer) -> None:
    def down(event: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError("hook is down")

    okta.token_hook = down
    status, body = _token(okta)
    assert status == 200 and "tenant" not in _claims(body)


def test_slow_hook_times_out_and_the_token_is_unmodified(okta: MockIssuer) -> None:
    release = threading.Event()

    def slow(event: dict[str, Any]) -> dict[str, Any]:
        release.wait(5)
        return _patch({"op": "add", "path": "/claims/tenant", "value": "late"})

    okta.token_hook = TokenHook(slow, timeout=0.1)
    started = time.monotonic()
    status, body = _token(okta)
    release.set()
    assert status == 200 and "tenant" not in _claims(body)
    assert time.monotonic() - started < 2


def test_error_object_becomes_server_error(okta: MockIssuer) -> None:
    okta.token_hook = lambda event: {"error": {"errorSummary": "Tenant is suspended"}}
    status, body = _token(okta)
    assert status == 400
    assert body == {"error": "server_error", "error_description": "Tenant is suspended"}


def test_okta_timeout_is_three_seconds() -> None:
    assert TokenHook(lambda event: None).timeout == 3.0
    with pytest.raises(ValueError, match="http"):
        TokenHook("ftp://hook")
    with pytest.raises(TypeError, match="token_hook"):
        MockIssuer(token_hook=42)  # type: ignore[arg-type]


class _HookHandler(BaseHTTPRequestHandler):
    status = 200
    answer: bytes = b""
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        type(self).received.append(
            {"auth": self.headers.get("authorization"), **json.loads(self.rfile.read(length))}
        )
        self.send_response(self.status)
        self.send_header("content-length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[tuple[str, type[_HookHandler]]]:
    handler = type("Handler", (_HookHandler,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_url_hook(okta: MockIssuer, hook_server: tuple[str, type[_HookHandler]]) -> None:
    url, handler = hook_server
    handler.answer = json.dumps(_patch({"op": "add", "path": "/claims/tenant", "value": "acme"}))
    handler.answer = handler.answer.encode()  # type: ignore[attr-defined]
    okta.token_hook = TokenHook(url, headers={"Authorization": "Bearer hook-secret"})
    status, body = _token(okta)
    assert status == 200 and _claims(body)["tenant"] == "acme"
    assert handler.received[0]["auth"] == "Bearer hook-secret"
    assert handler.received[0]["eventType"] == "com.okta.oauth2.tokens.transform"


@pytest.mark.parametrize(("status", "answer"), [(500, b"{}"), (200, b"not json")])
def test_url_hook_failures(
    okta: MockIssuer, hook_server: tuple[str, type[_HookHandler]], status: int, answer: bytes
) -> None:
    url, handler = hook_server
    handler.status, handler.answer = status, answer
    okta.token_hook = url
    code, body = _token(okta)
    assert code == 200 and "tenant" not in _claims(body)


def test_unreachable_url_hook(okta: MockIssuer) -> None:
    okta.token_hook = "http://127.0.0.1:9/hook"  # discard port: nothing listens
    status, body = _token(okta)
    assert status == 200 and body["token_type"] == "Bearer"
    assert okta.token_hook.failures == 1
