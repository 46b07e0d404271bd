"""Property test: whatever the time steps and issuer answers, the client's promises hold."""

from __future__ import annotations

import itertools

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from okta_guard.call.client import RetrySettings, TokenClient
from okta_guard.call.policy import MIN_VALIDITY
from okta_guard.errors import TokenRequestError
from okta_guard.testing import FakeClock

ISSUER = "https://dev-123456.okta.com/oauth2/default"
SECRET = "Zq9-unique-client-secret-value"
ANSWERS = ("ok", "ok-short", "503", "429", "invalid_client", "network")

step = st.tuples(
    st.sampled_from(["get", "get", "invalidate"]),
    st.floats(min_value=0, max_value=4000, allow_nan=False),
    st.lists(st.sampled_from(ANSWERS), min_size=3, max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_client_promises(steps: list[tuple[str, float, list[str]]]) -> None:
    clock = FakeClock()
    script: list[str] = []
    counter = itertools.count()
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock())
        answer = script.pop(0) if script else "ok"
        if answer == "network":
            raise httpx.ConnectError("down", request=request)
        if answer in ("ok", "ok-short"):
            lifetime = 3600 if answer == "ok" else 300
            body = {"access_token": f"t{next(counter)}", "expires_in": lifetime, "scope": "a"}
            return httpx.Response(200, json=body)
        if answer == "429":
            return httpx.Response(429, headers={"Retry-After": "5"})
        if answer == "invalid_client":
            return httpx.Response(401, json={"error": "invalid_client"})
        return httpx.Response(503)

    client = TokenClient(
        ISSUER,
        "svc",
        SECRET,
        scopes=["a"],
        clock=clock,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda s: None,
        rand=lambda: 0.5,
        retry=RetrySettings(max_attempts=3),
    )
    for action, advance, answers in steps:
        clock.advance(advance)
        if action == "invalidate":
            client.invalidate()
            continue
        script[:] = answers
        cached = client.cached_token
        before = len(sent)
        try:
            token = client.get_token()
        except TokenRequestError as exc:
            error: TokenRequestError | None = exc
        else:
            error = None
        if error is not None:
            # Never fails while a usable token is cached, and never leaks the secret.
            assert cached is None or cached.expires_in(clock()) < MIN_VALIDITY
            assert SECRET not in str(error)
            continue
        # A returned token is never (nearly) expired ...
        assert token.expires_in(clock()) >= MIN_VALIDITY
        # ... a fresh cached token costs no request ...
        if cached is not None and cached.expires_in(clock()) > 60:
            assert len(sent) == before
            assert token is cached
        # ... and a fetch makes at most max_attempts requests.
        assert len(sent) - before <= 3
