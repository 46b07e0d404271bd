"""The network rows of ../shared/SECURITY.md (the attack catalogue), one named test each.

The rows about a hostile issuer: a slow or stalled answer, a compression bomb, an empty
or wholly unusable key set, a refresh that makes a kid unusable, and absurd token
endpoint answers.  :mod:`tests.test_hostile_network` runs the same faults over every
fetch path; these are the catalogue's short, named statements of each rule.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from okta_guard import TokenClient, TokenVerifier
from okta_guard.call.policy import MAX_TOKEN_LIFETIME
from okta_guard.errors import InvalidTokenError, IssuerUnavailableError, TokenRequestError
from okta_guard.testing import FakeClock, MockIssuer
from tests.support.verifier_helpers import NOW, JwksEndpoint, claims, jwk, token, verifier

DEADLINE = 1.0
SLACK = 2.5  # a shared, loaded machine; a hang would take as long as the drip lasts


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", "catalogue-secret", scopes=["orders:read"])
        yield server


@pytest.fixture(autouse=True)
def _no_outage(okta: MockIssuer) -> Iterator[None]:
    yield
    okta.end_outage()


def later(**overrides: object) -> str:
    return token(claims(exp=int(NOW) + 86400, **overrides))


# Row: issuer answers slowly (drip-feeds a body, stalls) -------------------------------------


@pytest.mark.parametrize("fault", [{"drip": 0.2}, {"stall": True}], ids=["drip", "stall"])
def test_slow_issuer_gives_503_within_the_total_deadline(
    okta: MockIssuer, fault: dict[str, object]
) -> None:
    okta.start_outage("keys", **fault)
    v = TokenVerifier(
        okta.issuer, "api://default", jwks_uri=f"{okta.issuer}/v1/keys", fetch_deadline=DEADLINE
    )
    started = time.monotonic()
    with pytest.raises(IssuerUnavailableError):
        v.verify(okta.mint_token(scopes=["orders:read"], client_id="svc"))
    assert time.monotonic() - started < DEADLINE + SLACK


@pytest.mark.parametrize("fault", [{"drip": 0.2}, {"stall": True}], ids=["drip", "stall"])
def test_slow_token_endpoint_gives_token_request_error_within_the_deadline(
    okta: MockIssuer, fault: dict[str, object]
) -> None:
    okta.start_outage("token", **fault)
    client = TokenClient(
        okta.issuer, "svc", "catalogue-secret", scopes=["orders:read"], deadline=DEADLINE
    )
    started = time.monotonic()
    with pytest.raises(TokenRequestError):
        client.get_token()
    assert time.monotonic() - started < DEADLINE + SLACK


# Row: gzip/deflate bomb in a key set, discovery or token body -------------------------------


@pytest.mark.parametrize("endpoint", ["keys", "metadata", "token"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_is_capped_while_streaming(
    okta: MockIssuer, endpoint: str, encoding: str
) -> None:
    # Discovery: the metadata documents and the fallback key URL all answer a bomb.
    okta.start_outage(
        "*" if endpoint == "metadata" else endpoint, bomb=200_000_000, encoding=encoding
    )
    jwks_uri = f"{okta.issuer}/v1/keys" if endpoint == "keys" else None
    tracemalloc.start()
    try:
        if endpoint == "token":
            client = TokenClient(okta.issuer, "svc", "catalogue-secret", scopes=["orders:read"])
            with pytest.raises(TokenRequestError):
                client.get_token()
        else:
            v = TokenVerifier(okta.issuer, "api://default", jwks_uri=jwks_uri)
            with pytest.raises(IssuerUnavailableError):
                v.verify(okta.mint_token(scopes=["orders:read"], client_id="svc"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * 1024 * 1024  # the bomb inflates to 200 MB


# Row: key set answered 200 but empty or wholly unusable --------------------------------------


@pytest.mark.parametrize("keys", [[], [{}], [jwk("a", "kid-a", use="enc")]])
def test_empty_or_unusable_key_set_is_a_failed_refresh(keys: list[dict[str, object]]) -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint()
    v = verifier(endpoint, clock)
    v.verify(token())
    clock.advance(3600)
    endpoint.keys = keys
    assert v.verify(later()).subject == "svc"  # the last good keys are kept


# Row: a refresh that makes a kid unusable, followed by good answers --------------------------


def test_a_kid_made_unusable_comes_back_at_the_key_sets_ttl() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock)
    v.verify(token())
    clock.advance(600)
    endpoint.keys = [jwk("a", "kid-a", use="enc"), jwk("b", "kid-b")]
    with pytest.raises(InvalidTokenError):
        v.verify(later())
    endpoint.keys = [jwk("a", "kid-a"), jwk("b", "kid-b")]
    clock.advance(600)  # not a day later: the odd set's own time to live
    assert v.verify(later(jti="again")).subject == "svc"


# Row: absurd expires_in, nested JSON, huge token-endpoint body -------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"access_token": "a", "expires_in": 1e308}',
        '{"access_token": "a", "expires_in": 1' + "0" * 400 + "}",
        '{"access_token": "a", "expires_in": "99999999999999"}',
        "[" * 100_000 + "]" * 100_000,
        "x" * (64 * 1024 * 1024),
    ],
    ids=["1e308", "10**400", "digit-string", "nested", "64MB"],
)
def test_absurd_token_answers_give_only_token_request_errors_or_clamped_tokens(
    body: str,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body)

    client = TokenClient(
        "https://dev-1.okta.com/oauth2/default",
        "svc",
        "secret",
        scopes=["orders:read"],
        clock=FakeClock(NOW),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    try:
        issued = client.get_token()
    except TokenRequestError:
        return
    assert issued.expires_at.timestamp() == NOW + MAX_TOKEN_LIFETIME
