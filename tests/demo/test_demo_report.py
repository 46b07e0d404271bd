"""The demo's formatting helpers and token tampering, without servers."""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx
import pytest

from okta_guard.demo.inprocess import InProcessASGI
from okta_guard.demo.report import (
    Call,
    challenge_lines,
    fit_token_table,
    parse_challenge,
    render_calls,
    render_stats,
)
from okta_guard.demo.scenario import tamper
from okta_guard.models import ServiceToken
from okta_guard.verify.stats import VerifierStats

LONG = (
    'Bearer realm="api://default", error="insufficient_scope", '
    'error_description="This resource requires the scope(s): orders:write, a, b, c, d, '
    'e, f, g, h and i, which is a very long description indeed.", scope="orders:write", '
    'resource_metadata="http://127.0.0.1:5/.well-known/oauth-protected-resource"'
)


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return data


def test_parse_challenge_keeps_quoted_commas() -> None:
    scheme, params = parse_challenge('Bearer realm="a, b", error="invalid_token", x=token68')
    assert scheme == "Bearer"
    assert params == [("realm", '"a, b"'), ("error", '"invalid_token"'), ("x", "token68")]


def test_challenge_lines_leave_out_the_constant_parts() -> None:
    head, rest = challenge_lines(LONG, 40)
    assert head == 'Bearer error="insufficient_scope"'
    assert rest[0].startswith('error_description="This resource')
    assert rest[-1] == 'scope="orders:write"'
    assert not any("realm" in line or "resource_metadata" in line for line in [head, *rest])
    assert challenge_lines('Bearer realm="api://x", resource_metadata="u"', 40) == (
        'Bearer realm="api://x"',
        [],
    )
    assert challenge_lines(None, 40) == ("-", [])
    # too narrow for the first parameter: it moves to the next lines
    assert challenge_lines(LONG, 10)[0] == "Bearer"


@pytest.mark.parametrize("width", [60, 72, 80])
def test_render_calls_fits_the_width(width: int) -> None:
    calls = [
        (1, Call("GET", "/health", "none", 200, 200)),
        (2, Call("POST", "/orders", "reader", 403, 403, LONG)),
        (10, Call("GET", "/orders", "reader, new key", 200, 200)),
    ]
    text = render_calls(calls, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].split() == ["#", "request", "token", "status", "WWW-Authenticate"]
    assert lines[2].split() == ["1", "GET", "/health", "none", "200", "-"]
    assert lines[3].split()[:5] == ["2", "POST", "/orders", "reader", "403"]
    assert 'scope="orders:write"' in text
    assert "which is a very long description" in " ".join(text.split())
    assert lines[-1].split()[0] == "10"


def _token(scopes: str) -> ServiceToken:
    now = dt.datetime.now(dt.timezone.utc)
    return ServiceToken(
        "eyJhbGciOiJSUzI1NiJ9." + "x" * 600 + ".sig-TAIL",
        "Bearer",
        now + dt.timedelta(hours=1),
        frozenset(scopes.split()),
    )


def test_token_table_shortens_tokens_to_fit() -> None:
    tokens = [("reader", _token("orders:read")), ("writer", _token("orders:read orders:write"))]
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    table, named = fit_token_table(tokens, now=now, width=80)
    assert all(len(line) <= 80 for line in table.splitlines())
    assert not named  # the app column makes the CLI table 87 columns wide
    assert table.splitlines()[0].split() == [
        "token.access_token",
        "token.token_type",
        "token.expires_in",
        "token.scope",
    ]
    assert "eyJhbGciOi...-TAIL  Bearer" in table
    wide, named = fit_token_table(tokens, now=now, width=120)
    assert named and wide.splitlines()[0].split()[0] == "app"
    assert "eyJhbGciOiJSUzI1NiJ9.xxx" not in wide  # never the whole token
    expanded, named = fit_token_table(tokens, now=now, width=50)
    assert named and "token.access_token  eyJhbGci...TAIL" in expanded
    assert all(len(line) <= 50 for line in expanded.splitlines())


def test_render_stats_columns() -> None:
    text = render_stats(
        [("a", VerifierStats(fetches=1)), ("b", VerifierStats(fetches=2, cache_hits=5))],
        [("requests to /v1/keys", [1, 2])],
    )
    lines = text.splitlines()
    assert lines[0].split() == ["verifier.stats", "a", "b"]
    assert "fetches 1 2" in [" ".join(line.split()) for line in lines]
    assert "cache_hits 0 5" in [" ".join(line.split()) for line in lines]
    assert lines[-1].split() == ["requests", "to", "/v1/keys", "1", "2"]


def test_tamper_adds_a_scope_and_keeps_the_signature() -> None:
    claims = {"scp": ["orders:read"], "cid": "svc"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl"
    forged = tamper(token, "orders:write")
    assert forged.split(".")[0] == token.split(".")[0]
    assert forged.split(".")[2] == "c2lnbmF0dXJl"
    assert "=" not in forged
    assert _claims(forged)["scp"] == ["orders:read", "orders:write"]


def test_tamper_opaque_token_changes_one_character() -> None:
    token = "opaque-token-value-AAAA"
    forged = tamper(token, "orders:write")
    assert len(forged) == len(token)
    assert sum(a != b for a, b in zip(forged, token, strict=True)) == 1


def test_in_process_server_runs_the_lifespan() -> None:
    events: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()  # type: ignore[operator]
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})  # type: ignore[operator]
                if message["type"] == "lifespan.shutdown":
                    return
        body = b"hello " + (await receive())["body"]  # type: ignore[operator]
        await send({"type": "http.response.start", "status": 201, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    with (
        InProcessASGI(app) as server,
        httpx.Client(transport=server.transport, base_url="http://x") as client,
    ):
        assert events == ["lifespan.startup"]
        response = client.post("/", content=b"world")
        assert (response.status_code, response.text) == (201, "hello world")
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_in_process_server_reports_a_failed_startup() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        await receive()  # type: ignore[operator]
        await send({"type": "lifespan.startup.failed", "message": "no keys"})  # type: ignore[operator]

    with pytest.raises(RuntimeError, match="no keys"), InProcessASGI(app):
        pass


def test_the_demo_does_not_import_the_cli() -> None:
    """Data flows one way: the CLI runs the demo, the demo never imports the CLI."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys, okta_guard.demo as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module('okta_guard.demo.' + m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('okta_guard.cli')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
