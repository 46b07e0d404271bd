"""The demo's DPoP step: a DPoP-bound app (RFC 9449) next to the Bearer apps.

New Okta API Services apps require DPoP by default.  The step shows a plain
``TokenClient`` (``dpop=None``) switching to DPoP at the token endpoint (Okta's
``invalid_dpop_proof``, then the ``use_dpop_nonce`` retry), a call with
``client.auth`` (``Authorization: DPoP`` plus a fresh proof), the same proof replayed
(refused), and the DPoP-bound token sent as a Bearer token, as a thief would (refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from okta_guard.call.client import TokenClient
from okta_guard.demo.report import WIDTH, Call, Printer, indent, render_calls

__all__ = ["DPoPBackend", "TokenRequest", "dpop_step"]


@dataclass(frozen=True)
class TokenRequest:
    """One token request as the issuer saw it: its status and a one-line account."""

    status: int
    text: str


class DPoPBackend(Protocol):
    """A backend that has a DPoP-bound app (the mock issuer has one)."""

    dpop_app: TokenClient | None

    def token_requests_since(self, mark: int) -> Sequence[TokenRequest] | None:
        """Token requests after ``mark`` (see :meth:`request_mark`), or ``None`` if unknown."""

    def request_mark(self) -> int:
        """A position in the issuer's request log."""


def dpop_step(
    say: Printer,
    number: str,
    backend: object,
    http: httpx.Client,
    calls: list[tuple[int, Call]],
) -> bool:
    """Run the step, appending its calls to ``calls``; False if the backend has no DPoP app."""
    client: TokenClient | None = getattr(backend, "dpop_app", None)
    say(f"{number}. A DPoP-bound app (RFC 9449), Okta's default for new service apps")
    if client is None:
        say.para(
            "Skipped: no DPoP app configured. Against the mock issuer the demo registers "
            "one; in Okta, tick 'Require Demonstrating Proof of Possession (DPoP) header in "
            "token requests' on an API Services app."
        )
        say()
        return False
    mark = getattr(backend, "request_mark", lambda: 0)()
    token = client.get_token()
    log = getattr(backend, "token_requests_since", lambda mark: None)(mark)
    key = client.dpop_key
    say.pairs(
        [
            ("dpop app", f"client {client.client_id}, TokenClient(...) with dpop=None"),
            ("proof key", f"EC P-256, thumbprint (cnf.jkt) {key.thumbprint if key else '?'}"),
        ]
    )
    if log:
        say()
        say.para(f"Its first token request took {len(log)} round trips (Okta's nonce dance):")
        for n, request in enumerate(log, 1):
            say(f"    {n}. {request.text}")
        say.para(
            "Each retry carries a fresh proof (new jti) and the nonce is remembered: "
            "a refresh costs one request.",
            prefix="    ",
        )
    first = len(calls)
    ok = http.get("/orders", auth=client.auth)
    _record(calls, "GET", "/orders", "dpop app (DPoP)", ok, 200)
    sent = ok.request.headers
    replay = http.get(
        "/orders", headers={"Authorization": sent["authorization"], "DPoP": sent["dpop"]}
    )
    _record(calls, "GET", "/orders", "same proof again", replay, 401)
    stolen = http.get("/orders", headers={"Authorization": f"Bearer {token.access_token}"})
    _record(calls, "GET", "/orders", "dpop token as Bearer", stolen, 401)
    say()
    say(indent(render_calls(calls[first:], width=WIDTH - 2)))
    say()
    say.para(
        f"#{first + 1}: client.auth sent 'Authorization: DPoP' and a fresh proof (htm, htu, "
        f"iat, jti, ath). #{first + 2}: the API remembers each proof's jti, so a captured "
        f"request cannot be replayed. #{first + 3}: a stolen DPoP-bound token is useless "
        "without the private key; as a Bearer token it is refused."
    )
    say()
    return True


def _record(
    calls: list[tuple[int, Call]],
    method: str,
    path: str,
    who: str,
    response: httpx.Response,
    expected: int,
) -> None:
    call = Call(
        method=method,
        path=path,
        credentials=who,
        status=response.status_code,
        expected=expected,
        challenge=response.headers.get("www-authenticate"),
    )
    calls.append((len(calls) + 1, call))
