"""``okta-guard demo``: the whole client-credentials setup, end to end, in one run.

The scenario (:func:`run_demo`) is the same against the mock issuer
(:mod:`okta_guard.demo.mock`, the default) and against a real Okta tenant
(:mod:`okta_guard.demo.okta`, ``--okta``):

1. serve a small orders API protected by okta-guard (:mod:`okta_guard.demo.api`);
2. get tokens for two service apps with :class:`~okta_guard.TokenClient` and
   print the CLI's token table;
3. call the API without a token, with a tampered token, with too few scopes,
   with the right app and with an expired token, and show each status and
   ``WWW-Authenticate`` answer;
4. rotate the issuer's signing keys and show the key cache catching up with one
   fetch (mock only);
5. a DPoP-bound app (:mod:`okta_guard.demo.dpop_step`): Okta's nonce dance, a call
   with a proof, a replayed proof and a stolen token refused;
6. show the key cache counters, summarise, and say where to read next.

Every printed line fits in 80 columns; the run returns 0 when every call was
answered as expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

import httpx

from okta_guard.call.client import TokenClient
from okta_guard.demo.api import DemoApiServer, create_demo_app, uvicorn_available
from okta_guard.demo.dpop_step import dpop_step
from okta_guard.demo.report import (
    WIDTH,
    Call,
    Printer,
    fit_token_table,
    indent,
    render_calls,
    render_stats,
    verdict_summary,
)
from okta_guard.verify.stats import VerifierStats
from okta_guard.verify.verifier import TokenVerifier

__all__ = ["DemoBackend", "Rotation", "run_demo", "tamper"]

NEXT_STEPS = (
    (
        "README.md",
        "Quickstart, Protect an API, Get service tokens, Test with the mock "
        "issuer, Configuration, Errors, Caching and key rotation, Security, "
        "Troubleshooting, Benchmarks",
    ),
    (
        "CLI",
        "okta-guard doctor checks your own Okta configuration step by step "
        "(issuer, keys, clock, token, audience, routes) and names each fix",
    ),
    (
        "examples/",
        "starlette_app.py, fastapi_app.py (protected APIs); service_caller.py "
        "(httpx + TokenClient.auth); test_with_mock_issuer.py (your own tests "
        "with the pytest fixtures)",
    ),
    ("docs/demo.md", "this demo against your own Okta tenant: okta-guard demo --okta"),
    ("docs/dpop.md", "DPoP-bound tokens: TokenClient, the API's checks, okta-guard request"),
)


@dataclass(frozen=True)
class Rotation:
    """What a key rotation did: the active ``kid`` before and after, and how far the
    API's clock was moved (past the unknown-kid cooldown)."""

    old_kid: str
    new_kid: str
    clock_skipped: float


class DemoBackend(Protocol):
    """Where the tokens come from: the mock issuer or a real Okta tenant."""

    name: str
    issuer: str
    audience: str
    read_scope: str
    write_scope: str
    reader: TokenClient
    writer: TokenClient

    @property
    def async_clients(self) -> Sequence[httpx.AsyncClient]:
        """Async clients injected into the verifier, closed on the server's loop."""

    def make_verifier(self) -> TokenVerifier:
        """The verifier the demo API uses."""

    def expired_token(self) -> str | None:
        """A validly signed but expired reader token, or ``None`` if none can be made."""

    def forged_kid_token(self) -> str | None:
        """A token signed by a key the issuer never published, or ``None``."""

    def rotate_keys(self) -> Rotation | None:
        """Rotate the issuer's keys (``None``: not possible here)."""

    def key_requests(self) -> int | None:
        """How many key set requests the issuer has answered (``None``: unknown)."""


def tamper(token: str, add_scope: str) -> str:
    """Return ``token`` with ``add_scope`` written into its claims, signature unchanged.

    Falls back to changing the token's middle character when the payload holds no
    JSON ``scp`` list (e.g. an opaque token).
    """
    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        scp = claims.get("scp") if isinstance(claims, dict) else None
        if not isinstance(scp, list):
            raise ValueError("no scp claim")
        claims["scp"] = [*scp, add_scope]
        raw = json.dumps(claims, separators=(",", ":")).encode()
        forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        return f"{header}.{forged}.{signature}"
    except (ValueError, binascii.Error, UnicodeDecodeError):
        middle = len(token) // 2
        swapped = "A" if token[middle] != "A" else "B"
        return token[:middle] + swapped + token[middle + 1 :]


class _Caller:
    """Makes the demo's requests and keeps every answer, numbered."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.calls: list[tuple[int, Call]] = []

    def __call__(
        self, method: str, path: str, who: str, token: str | None, expected: int
    ) -> tuple[int, Call]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"item": "tea"} if method == "POST" else None
        response = self.http.request(method, path, headers=headers, json=body)
        call = Call(
            method=method,
            path=path,
            credentials=who,
            status=response.status_code,
            expected=expected,
            challenge=response.headers.get("www-authenticate"),
        )
        self.calls.append((len(self.calls) + 1, call))
        return self.calls[-1]


def run_demo(backend: DemoBackend, out: TextIO, *, use_uvicorn: bool | None = None) -> int:
    """Run the scenario against ``backend``, printing to ``out``; 0 if all went as expected."""
    verifier = backend.make_verifier()
    app = create_demo_app(
        verifier,
        read_scope=backend.read_scope,
        write_scope=backend.write_scope,
        async_clients=backend.async_clients,
    )
    with DemoApiServer(app, use_uvicorn) as api:
        return _Scenario(backend, verifier, api, Printer(out)).run()


class _Scenario:
    """The demo's steps, in order, sharing the API, the printer and the call log."""

    def __init__(
        self, backend: DemoBackend, verifier: TokenVerifier, api: DemoApiServer, say: Printer
    ) -> None:
        self.backend, self.verifier, self.api, self.say = backend, verifier, api, say
        self.call = _Caller(api.client)
        self.read, self.write = backend.read_scope, backend.write_scope
        #: (label, verifier stats, key set requests seen by the issuer)
        self.snapshots: list[tuple[str, VerifierStats, int | None]] = []
        self.expired_shown = False
        self.dpop_shown = False
        self.rotation: Rotation | None = None

    def snapshot(self, label: str) -> None:
        self.snapshots.append((label, self.verifier.stats, self.backend.key_requests()))

    def run(self) -> int:
        self.snapshot("at start")
        self.start()
        reader, writer = self.tokens()
        self.calls(reader, writer)
        self.snapshot("before rotation")
        self.rotate(reader)
        self.snapshot("after rotation" if self.rotation else "at the end")
        self.dpop_shown = dpop_step(self.say, "5", self.backend, self.api.client, self.call.calls)
        self.stats()
        return self.summary()

    def start(self) -> None:
        say, api, started = self.say, self.api, self.snapshots[0][1]
        say("okta-guard demo: an API protected by Okta access tokens, end to end")
        say()
        say(f"1. A protected orders API, trusting {self.backend.name}")
        served = "uvicorn on loopback" if api.served_by == "uvicorn" else "in-process"
        say.pairs(
            [
                ("issuer", self.backend.issuer),
                ("audience", self.backend.audience),
                ("orders API", f"{api.base_url} ({served})"),
                ("routes", "GET /health   public"),
                ("", f"GET /orders   {self.read}"),
                ("", f"POST /orders  {self.write}"),
            ]
        )
        if api.served_by != "uvicorn":
            why = (
                "--in-process"
                if uvicorn_available()
                else "uvicorn is not installed (pip install 'okta-guard[testing]')"
            )
            say.para(
                f"{why}: the API runs in-process and is called through "
                "httpx.ASGITransport. Same app, same answers, no socket."
            )
        say.para(
            "OktaGuardMiddleware prewarmed the key cache at startup: "
            f"{_n(started.fetches, 'fetch')}, {_n(started.keys_cached, 'key')} cached."
        )
        say()

    def tokens(self) -> tuple[str, str]:
        say, backend = self.say, self.backend
        say("2. Two service apps get their tokens (TokenClient, client credentials)")
        say.pairs(
            [
                ("reader", f"client {backend.reader.client_id}, scope {self.read}"),
                ("writer", f"client {backend.writer.client_id}, scope {self.read} {self.write}"),
            ]
        )
        reader = backend.reader.get_token()
        writer = backend.writer.get_token()
        table, named = fit_token_table([("reader", reader), ("writer", writer)], now=time.time())
        say()
        if not named:
            say.para("The CLI's token table (okta-guard token --short), reader then writer:")
        say(table)
        say()
        return reader.access_token, writer.access_token

    def calls(self, reader: str, writer: str) -> None:
        say, call = self.say, self.call
        say("3. Call the API (httpx): status and WWW-Authenticate answer")
        call("GET", "/health", "none", None, 200)
        call("GET", "/orders", "none", None, 401)
        call("POST", "/orders", "reader+forged scp", tamper(reader, self.write), 401)
        call("POST", "/orders", "reader", reader, 403)
        call("POST", "/orders", "writer", writer, 201)
        call("GET", "/orders", "reader", reader, 200)
        expired = self.backend.expired_token()
        if expired is not None:
            call("GET", "/orders", "reader, expired", expired, 401)
            self.expired_shown = True
        say()
        say(indent(render_calls(call.calls, width=WIDTH - 2)))
        say()
        say.para(
            f'Every challenge also carries realm="{self.backend.audience}" and '
            "resource_metadata (RFC 9728). The forged token is the reader's with "
            f"{self.write} added to its scp claim: its signature no longer matches."
        )
        if expired is None:
            say.para(
                "Skipped: an expired token (a real tenant issues fresh tokens only; the "
                "mock issuer mints expired ones on demand)."
            )
        say()

    def rotate(self, old_token: str) -> None:
        say, call, backend = self.say, self.call, self.backend
        say("4. The issuer rotates its signing keys")
        rotation = self.rotation = backend.rotate_keys()
        if rotation is None:
            say.para(
                "Skipped against a real tenant: Okta rotates keys on its own schedule. "
                "okta-guard refetches the key set when a token names an unknown kid (at "
                "most once per cooldown) and keeps serving the last good keys while the "
                "issuer is unreachable."
            )
            say()
            return
        say.para(
            "Rotated twice, the way an emergency rotation looks to an API that cached "
            "the key set before: new tokens carry a kid the API has never seen, and "
            "the old key is gone. The demo moves the API's clock "
            f"{rotation.clock_skipped:.0f} s ahead, past the 30 s cooldown between "
            "refetches for unknown kids."
        )
        say.pairs([("old kid", _kid(rotation.old_kid)), ("new kid", _kid(rotation.new_kid))])
        first = len(call.calls)
        fetches = self.verifier.stats.fetches
        reader = backend.reader.get_token(force_refresh=True).access_token
        writer = backend.writer.get_token(force_refresh=True).access_token
        call("GET", "/orders", "reader, new key", reader, 200)
        call("POST", "/orders", "writer, new key", writer, 201)
        call("GET", "/orders", "reader, new key", reader, 200)
        call("GET", "/orders", "reader, old key", old_token, 401)
        forged = backend.forged_kid_token()
        if forged is not None:
            call("GET", "/orders", "unknown kid", forged, 401)
        say()
        say(indent(render_calls(call.calls[first:], width=WIDTH - 2)))
        say()
        fetched = self.verifier.stats.fetches - fetches
        say.para(
            f"Key rotation: new tokens accepted after {_n(fetched, 'key set fetch')} "
            f"(#{first + 1}); #{first + 3} was a verified-token cache hit; the old key "
            "and the unknown kid were refused without another fetch."
        )
        say()

    def stats(self) -> None:
        say = self.say
        say("6. What the key cache did (verifier.stats, before step 5)")
        columns = [(label, stats) for label, stats, _ in self.snapshots]
        if self.rotation is None:
            columns = [columns[0], columns[-1]]
        extra: list[tuple[str, Sequence[int]]] = []
        keys = [requests for _, _, requests in self.snapshots]
        if all(k is not None for k in keys):
            counts = [k or 0 for k in keys]
            extra.append(("requests to /v1/keys", counts if self.rotation else counts[::2]))
        say(indent(render_stats(columns, extra)))
        say.para(f"Verdicts: {verdict_summary(self.snapshots[-1][1])}.")
        say()

    def summary(self) -> int:
        say, calls = self.say, self.call.calls
        wrong = [(n, c) for n, c in calls if not c.as_expected]
        say("7. Summary")
        if wrong:
            say.para(f"{len(wrong)} of {len(calls)} calls were NOT answered as expected:")
            for number, c in wrong:
                say.para(
                    f"#{number} {c.method} {c.path} ({c.credentials}): {c.status}, "
                    f"expected {c.expected}"
                )
        else:
            bad = "a forged or expired token" if self.expired_shown else "a forged token"
            text = (
                f"All {len(calls)} calls were answered as expected: 401 without a token, "
                f"401 invalid_token for {bad}, 403 insufficient_scope for the reader on "
                "the write route, 200/201 for the right app."
            )
            if self.rotation is not None:
                before, after = self.snapshots[-2][1], self.snapshots[-1][1]
                text += (
                    " After the key rotation the API accepted new tokens after "
                    f"{_n(after.fetches - before.fetches, 'key set fetch')}."
                )
            if self.dpop_shown:
                text += (
                    " The DPoP app's token worked only with fresh proofs: a replayed proof "
                    "and the token sent as Bearer got 401."
                )
            say.para(text)
        say()
        say("Where to look next")
        say.pairs(list(NEXT_STEPS))
        return 1 if wrong else 0


def _n(count: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith(("s", "ch")) else "s")
    return f"{count} {noun if count == 1 else plural}"


def _kid(kid: str) -> str:
    return kid if len(kid) <= 16 else f"{kid[:12]}..."
