"""MultiIssuerVerifier: routing by exact ``iss``, per-issuer keys and rules, floods, from_env."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from okta_guard import (
    ConfigurationError,
    InvalidTokenError,
    IssuerUnavailableError,
    MultiIssuerVerifier,
    TokenVerifier,
)
from okta_guard.testing import FakeClock, MockIssuer, generate_signing_key
from tests.support.verifier_helpers import b64u_json

A_AUD = "api://default"
B_AUD = "api://partner"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def okta(clock: FakeClock) -> Iterator[MockIssuer]:
    issuer = MockIssuer(clock=clock)
    issuer.add_auth_server("partner", audience=B_AUD)
    try:
        yield issuer
    finally:
        issuer.close()


def verifier_for(okta: MockIssuer, issuer: str, audience: str, **options: object) -> TokenVerifier:
    return TokenVerifier(
        issuer,
        audience,
        clock=okta.clock,
        http_client=httpx.Client(transport=okta.transport),
        async_http_client=httpx.AsyncClient(transport=okta.transport),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def multi(okta: MockIssuer) -> MultiIssuerVerifier:
    return MultiIssuerVerifier(
        [
            verifier_for(okta, okta.issuer, A_AUD),
            verifier_for(okta, okta.issuer_for("partner"), B_AUD, client_ids=["partner-svc"]),
        ]
    )


def test_each_issuer_token_goes_to_its_verifier(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    a = okta.mint_token(scopes=["orders:read"], client_id="svc")
    b = okta.mint_token(scopes=["orders:read"], client_id="partner-svc", server="partner")
    assert multi.verify(a).issuer == okta.issuer
    assert multi.verify(b).issuer == okta.issuer_for("partner")
    # repeated tokens come from the verdict caches
    assert multi.verify_cached(a) is not None
    assert multi.verify_cached(b) is not None
    stats = multi.stats
    assert stats[okta.issuer].fetches == 1
    assert stats[okta.issuer_for("partner")].fetches == 1
    assert multi.issuers == (okta.issuer, okta.issuer_for("partner"))
    assert multi.audience == (A_AUD, B_AUD)


async def test_async_routing(okta: MockIssuer, multi: MultiIssuerVerifier) -> None:
    a = okta.mint_token(scopes=["x"], client_id="svc")
    b = okta.mint_token(scopes=["x"], client_id="partner-svc", server="partner")
    results = await asyncio.gather(multi.verify_async(a), multi.verify_async(b))
    assert [r.issuer for r in results] == [okta.issuer, okta.issuer_for("partner")]


def test_each_issuer_keeps_its_own_audience_and_allowlist(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    # partner's allowlist does not apply to the default server, and vice versa
    assert multi.verify(okta.mint_token(client_id="anyone")).client_id == "anyone"
    with pytest.raises(InvalidTokenError) as info:
        multi.verify(okta.mint_token(client_id="anyone", server="partner"))
    assert info.value.reason == "client_id_not_allowed"
    # a partner token carrying the default server's audience is refused by partner's rules
    with pytest.raises(InvalidTokenError) as info:
        multi.verify(okta.mint_token(client_id="partner-svc", server="partner", audience=A_AUD))
    assert info.value.reason == "wrong_audience"


def test_token_claiming_issuer_a_signed_with_b_key_is_refused(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    forged = okta.mint_token(
        client_id="svc",
        server="partner",  # signed with the partner server's key ...
        claims={"iss": okta.issuer, "aud": A_AUD},  # ... claiming to come from the default one
    )
    with pytest.raises(InvalidTokenError):
        multi.verify(forged)
    # and the partner verifier, whose key signed it, never saw it (iss routes it to A)
    assert multi.stats[okta.issuer_for("partner")].fetches == 0


def test_unknown_issuer_is_refused_before_any_fetch(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    for iss in (
        "https://evil.example.com/oauth2/default",
        okta.issuer + "/",
        okta.issuer.upper(),
        okta.issuer[:-1],
        "",
    ):
        token = okta.mint_token(claims={"iss": iss})
        with pytest.raises(InvalidTokenError) as info:
            multi.verify(token)
        assert info.value.reason == "unknown_issuer"
    assert okta.count("keys") == 0
    assert okta.count("metadata") == 0
    assert multi.unknown_issuers == 5


def test_non_string_iss_and_junk_are_refused_without_fetch(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    for token in (
        okta.mint_token(claims={"iss": ["x"]}),
        okta.mint_token(claims={"iss": 1}),
        "not a token",
        "a.b.c",
        "x" * 100_000,
        f"{b64u_json({'alg': 'RS256', 'kid': 'k'})}.{b64u_json([1])}.c2ln",
    ):
        with pytest.raises(InvalidTokenError):
            multi.verify(token)
    with pytest.raises(InvalidTokenError):
        multi.verify(None)  # type: ignore[arg-type]
    assert okta.count("keys") == 0


def test_a_flood_of_made_up_issuers_costs_no_fetch_and_no_memory(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    signer = generate_signing_key()
    tokens = [
        okta.mint_token(claims={"iss": f"https://org{n}.example.com/oauth2/x"}, key=signer)
        for n in range(300)
    ]

    def flood() -> int:
        refused = 0
        for token in tokens:
            try:
                multi.verify(token)
            except InvalidTokenError:
                refused += 1
        return refused

    assert flood() == 300  # warm up allocator and header cache
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    assert sum(flood() for _ in range(5)) == 1500
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(
        s.size_diff
        for s in after.compare_to(before, "filename")
        if "okta_guard" in s.traceback[0].filename and s.size_diff > 0
    )
    assert grown < 16 * 1024  # 1500 refusals: nothing remembered per token or issuer
    assert okta.count("keys") == 0
    assert all(s.cached_tokens == 0 for s in multi.stats.values())


def test_one_issuer_down_does_not_stop_the_other(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    okta.start_outage("*", server="partner")
    assert multi.verify(okta.mint_token()).issuer == okta.issuer
    with pytest.raises(IssuerUnavailableError):
        multi.verify(okta.mint_token(client_id="partner-svc", server="partner"))
    with pytest.raises(IssuerUnavailableError):
        multi.prewarm()
    okta.end_outage()
    multi.prewarm()


async def test_prewarm_async_fetches_every_issuer(
    okta: MockIssuer, multi: MultiIssuerVerifier
) -> None:
    await multi.prewarm_async()
    assert okta.count("keys", "default") == 1
    assert okta.count("keys", "partner") == 1
    multi.clear_cache()
    await multi.aclose()


def test_configuration_errors(okta: MockIssuer) -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        MultiIssuerVerifier([])
    with pytest.raises(ConfigurationError, match="twice"):
        MultiIssuerVerifier(
            [verifier_for(okta, okta.issuer, A_AUD), verifier_for(okta, okta.issuer, B_AUD)]
        )
    with pytest.raises(ConfigurationError, match="TokenVerifier"):
        MultiIssuerVerifier(["https://x.okta.com/oauth2/default"])  # type: ignore[list-item]


def test_from_env_pairs_issuers_with_audiences() -> None:
    env = {
        "OKTA_ISSUERS": "https://a.okta.com/oauth2/one, https://b.okta.com/oauth2/two",
        "OKTA_AUDIENCES": "api://one,api://two",
        "OKTA_CLIENT_IDS": "svc",
    }
    multi = MultiIssuerVerifier.from_env(env)
    assert multi.issuers == ("https://a.okta.com/oauth2/one", "https://b.okta.com/oauth2/two")
    assert [v.audience for v in multi.verifiers] == ["api://one", "api://two"]
    shared = MultiIssuerVerifier.from_env(
        {"OKTA_ISSUERS": env["OKTA_ISSUERS"], "OKTA_AUDIENCE": "api://all"}
    )
    assert [v.audience for v in shared.verifiers] == ["api://all", "api://all"]
    with pytest.raises(ConfigurationError, match="one audience per issuer"):
        MultiIssuerVerifier.from_env({**env, "OKTA_AUDIENCES": "api://one"})
    single = MultiIssuerVerifier.from_env(
        {"OKTA_ISSUER": "https://a.okta.com/oauth2/one", "OKTA_AUDIENCE": "api://one"}
    )
    assert single.issuers == ("https://a.okta.com/oauth2/one",)
    assert repr(single) == "MultiIssuerVerifier(issuers=('https://a.okta.com/oauth2/one',))"
