"""One test per row of ../shared/SECURITY.md (the attack catalogue), in the same order.

Every rejection must be an ``InvalidTokenError`` with the precise ``reason``;
the 503 rows an ``IssuerUnavailableError``.  Nothing else may escape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from okta_guard.errors import (
    ConfigurationError,
    InvalidTokenError,
    IssuerUnavailableError,
)
from okta_guard.testing import FakeClock
from tests.support.verifier_helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    JwksEndpoint,
    b64u,
    b64u_json,
    claims,
    jwk,
    rsa_key,
    sign_segments,
    token,
    verifier,
)


def rejected(v: Any, tok: object) -> str:
    with pytest.raises(InvalidTokenError) as info:
        v.verify(tok)
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"
    assert isinstance(tok, str) is False or tok not in info.value.description
    return str(info.value.reason)


def signed(payload: bytes | str, header: dict[str, Any] | None = None) -> str:
    """A correctly signed token whose payload is exactly ``payload``."""
    head = b64u_json(header or {"alg": "RS256", "kid": "kid-a"})
    return sign_segments(rsa_key("a"), head, b64u(payload))


# Row 1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_rejected_from_allowlist_not_header(alg: str) -> None:
    endpoint = JwksEndpoint()
    v = verifier(endpoint)
    head = b64u_json({"alg": alg, "kid": "kid-a"})
    body = b64u_json(claims())
    assert rejected(v, f"{head}.{body}.") == "malformed"  # empty signature
    assert rejected(v, f"{head}.{body}.{b64u(b'sig')}") == "alg_not_allowed"
    assert endpoint.key_fetches == 0


def test_empty_signature_with_rs256_header_rejected() -> None:
    tok = token()
    assert rejected(verifier(), tok.rsplit(".", 1)[0] + ".") == "malformed"


# Row 2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret_form", ["pem", "der", "jwk_n"])
def test_rs256_to_hs256_confusion_rejected(secret_form: str) -> None:
    public = rsa_key("a").public_key()
    secret = {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk_n": jwk()["n"].encode(),
    }[secret_form]
    signing_input = f"{b64u_json({'alg': 'HS256', 'kid': 'kid-a'})}.{b64u_json(claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert rejected(verifier(), f"{signing_input}.{b64u(mac)}") == "alg_not_allowed"


@pytest.mark.parametrize("algs", [("HS256",), ("none",), ("RS256", "HS256"), ("ES256",), ()])
def test_symmetric_or_none_algorithms_cannot_be_configured(algs: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError):
        verifier(algorithms=algs)


def test_key_bound_to_its_algorithm() -> None:
    # RS384 allowed by configuration, but the JWK says RS256: the key is not used for RS384.
    v = verifier(JwksEndpoint(keys=[jwk("a", "kid-a", alg="RS256")]), algorithms=("RS256", "RS384"))
    head = b64u_json({"alg": "RS384", "kid": "kid-a"})
    tok = sign_segments(rsa_key("a"), head, b64u_json(claims()))
    assert rejected(v, tok) == "alg_not_allowed"


# Row 3 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"kty": "EC"},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"use": "enc"},
        {"alg": "HS256"},
        {"alg": "RSA-OAEP"},
        {"key_ops": ["encrypt"]},
    ],
)
def test_jwk_with_disagreeing_kty_alg_use_is_not_usable(overrides: dict[str, Any]) -> None:
    v = verifier(JwksEndpoint(keys=[jwk("a", "kid-a", **overrides)]))
    assert rejected(v, token()) == "unusable_key"


def test_rsa_key_below_2048_bits_is_not_usable() -> None:
    v = verifier(JwksEndpoint(keys=[jwk("small", "kid-s", bits=1024)]))
    head = b64u_json({"alg": "RS256", "kid": "kid-s"})
    tok = sign_segments(rsa_key("small", 1024), head, b64u_json(claims()))
    assert rejected(v, tok) == "unusable_key"


# Row 4 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        {"jwk": jwk("b", "kid-a")},
        {"jku": "https://evil.example/jwks"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
    ],
)
def test_embedded_or_remote_key_headers_never_used(header: dict[str, Any]) -> None:
    endpoint = JwksEndpoint()
    v = verifier(endpoint)
    # Signed by a key the issuer does not publish, pointing at itself.
    assert rejected(v, token(key="b", header=header)) == "header_not_allowed"
    assert endpoint.log == []


# Row 5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("crit", [["exp"], [], ["b64"], "b64", None])
def test_crit_header_rejected(crit: Any) -> None:
    assert rejected(verifier(), token(header={"crit": crit})) == "header_not_allowed"


# Row 6 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        "<missing>",
        42,
        None,
        True,
        ["kid-a"],
        {"k": 1},
        "",
        "k" * 5000,
        "k\u00e9",
        "kid a",
        "\u0000",
    ],
)
def test_bad_kid_rejected_before_any_fetch(kid: Any) -> None:
    endpoint = JwksEndpoint()
    v = verifier(endpoint)
    header: dict[str, Any] = {} if kid == "<missing>" else {"kid": kid}
    tok = token(kid=None, header=header)
    reason = rejected(v, tok)
    assert reason in ("bad_kid", "token_too_large")
    assert endpoint.log == []


def test_kid_is_only_a_dict_key_into_the_fetched_set() -> None:
    endpoint = JwksEndpoint()
    v = verifier(endpoint)
    assert rejected(v, token(kid="keys")) == "unknown_kid"
    assert rejected(v, token(kid="__class__")) == "unknown_kid"
    assert rejected(v, token(kid="../../etc/passwd")) == "unknown_kid"
    assert not any("passwd" in url for url in endpoint.log)
    assert all(url.endswith(("/v1/keys", "/oauth-authorization-server")) for url in endpoint.log)


# Row 7 ---------------------------------------------------------------------------------


def test_flood_of_unknown_kids_one_fetch_per_cooldown_known_kids_keep_working() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint()
    v = verifier(endpoint, clock=clock)
    v.prewarm()
    for minute in range(3):
        clock.advance(30)
        for i in range(200):
            assert rejected(v, token(kid=f"flood-{minute}-{i}")) == "unknown_kid"
            assert v.verify(token(claims(jti=f"AT.{minute}.{i}"))).client_id == "svc"
    assert endpoint.key_fetches == 1 + 3
    assert v.stats.unknown_kids == 600
    assert v.key_cache.policy.remembered_unknown() <= 1024


# Row 8 ---------------------------------------------------------------------------------


def test_duplicate_kid_in_jwks_is_ambiguous() -> None:
    v = verifier(JwksEndpoint(keys=[jwk("a", "kid-a"), jwk("b", "kid-a")]))
    assert rejected(v, token()) == "ambiguous_kid"
    v2 = verifier(JwksEndpoint(keys=[jwk("a", "kid-a"), jwk("a", "kid-a")]))
    assert rejected(v2, token()) == "ambiguous_kid"


# Row 9 ---------------------------------------------------------------------------------


def test_key_removed_after_refresh_rejects_tokens_and_cached_verdicts() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(
        keys=[jwk("a", "kid-a"), jwk("b", "kid-b")], cache_control="max-age=600"
    )
    v = verifier(endpoint, clock=clock)
    tok = token()
    first = v.verify(tok)
    assert v.verify(tok) is first  # served from the verified-token cache
    endpoint.keys = [jwk("b", "kid-b")]  # kid-a retracted
    clock.advance(481)  # refresh ahead (80 % of the time to live)
    assert rejected(v, tok) == "unknown_kid"
    assert v.stats.cached_tokens == 0


def test_key_replaced_under_the_same_kid_drops_cached_verdicts() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock=clock)
    tok = token()
    v.verify(tok)
    endpoint.keys = [jwk("b", "kid-a")]  # same kid, other key
    clock.advance(481)
    assert rejected(v, tok) == "bad_signature"


# Row 10 --------------------------------------------------------------------------------


def test_oversized_token_and_many_dots_rejected_before_parsing() -> None:
    endpoint = JwksEndpoint()
    v = verifier(endpoint)
    assert rejected(v, token(claims(pad="x" * 9000))) == "token_too_large"
    assert rejected(v, "." * 100_000) == "token_too_large"
    assert rejected(v, "a." * 1000) == "malformed"
    assert endpoint.log == []
    small = verifier(JwksEndpoint(), max_token_size=512)
    assert rejected(small, token()) == "token_too_large"


# Row 11 --------------------------------------------------------------------------------


def test_jwe_and_compression_headers_rejected() -> None:
    v = verifier()
    jwe_head = b64u_json({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "kid-a"})
    assert rejected(v, f"{jwe_head}.{b64u(b'k')}.{b64u(b'iv')}.{b64u(b'ct')}.{b64u(b't')}") == (
        "malformed"
    )
    assert rejected(v, token(header={"zip": "DEF"})) == "header_not_allowed"
    assert rejected(v, token(header={"enc": "A256GCM"})) == "header_not_allowed"
    assert rejected(v, token(header={"cty": "JWT"})) == "header_not_allowed"


def test_nested_jwt_payload_is_not_unwrapped() -> None:
    inner = token()
    assert rejected(verifier(), signed(inner)) == "malformed"


# Row 12 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", ["padding", "whitespace", "plus_slash", "trailing_bits", "mod4"]
)
def test_non_canonical_base64url_rejected(variant: str) -> None:
    head, payload, sig = token().split(".")
    if variant == "padding":
        tok = f"{head}.{payload}.{sig}=="
    elif variant == "whitespace":
        tok = f"{head}. {payload}.{sig}"
    elif variant == "plus_slash":
        raw = base64.b64encode(base64.urlsafe_b64decode(sig + "==")).decode().rstrip("=")
        tok = f"{head}.{payload}.{raw if raw != sig else sig + '+'}"
    elif variant == "trailing_bits":
        assert len(sig) % 4 == 2
        tok = f"{head}.{payload}.{sig[:-1]}{'B' if sig[-1] == 'A' else 'R'}"
    else:
        tok = f"{head}.{payload}.{sig}AAA"
        assert len(sig + "AAA") % 4 == 1
    assert rejected(verifier(), tok) == "malformed"


# Row 13 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp":1,"exp":2}',
        json.dumps(claims()).encode()[:-1] + b',"iss":"https://evil.example"}',
        b'{"exp":NaN}',
        b'{"exp":Infinity}',
        b'{"exp":1e400}',
        b"\xff\xfe\x00{}",
        b'{"sub":"\xc3\x28"}',
        b"[]",
        b'"claims"',
        b"42",
    ],
)
def test_strict_json_payload_rejected(payload: bytes) -> None:
    assert rejected(verifier(), signed(payload)) == "malformed"


@pytest.mark.parametrize("header", [b"[]", b'"RS256"', b'{"alg":"RS256","alg":"none"}'])
def test_header_not_an_object_or_duplicate_rejected(header: bytes) -> None:
    tok = f"{b64u(header)}.{b64u_json(claims())}.{b64u(b'x' * 256)}"
    assert rejected(verifier(), tok) == "malformed"


# Row 14 --------------------------------------------------------------------------------


def test_json_serialization_rejected() -> None:
    head, payload, sig = token().split(".")
    flattened = json.dumps({"protected": head, "payload": payload, "signature": sig})
    general = json.dumps(
        {"payload": payload, "signatures": [{"protected": head, "signature": sig}]}
    )
    assert rejected(verifier(), flattened) == "malformed"
    assert rejected(verifier(), general) == "malformed"


# Row 15 --------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False, "1900000000", [1], {"t": 1}, -1, 10**20, 1e300])
def test_time_claims_of_the_wrong_type_rejected(claim: str, value: Any) -> None:
    assert rejected(verifier(), token(claims(**{claim: value}))) == "bad_claim"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_null_rejected(claim: str) -> None:
    payload = claims()
    payload[claim] = None
    assert rejected(verifier(), token(payload)) == "bad_claim"


def test_exp_required() -> None:
    assert rejected(verifier(), token(claims(exp=None))) == "missing_claim"


def test_float_times_accepted() -> None:
    assert verifier().verify(token(claims(exp=NOW + 10.5, nbf=NOW - 0.5))).client_id == "svc"


# Row 16 --------------------------------------------------------------------------------


def test_expired_beyond_leeway_rejected_within_leeway_accepted() -> None:
    assert rejected(verifier(), token(claims(exp=int(NOW) - 60))) == "expired"
    assert verifier().verify(token(claims(exp=int(NOW) - 59))).client_id == "svc"
    assert rejected(verifier(leeway=0), token(claims(exp=int(NOW)))) == "expired"


def test_nbf_in_future_rejected() -> None:
    assert rejected(verifier(), token(claims(nbf=int(NOW) + 61))) == "not_yet_valid"
    assert verifier().verify(token(claims(nbf=int(NOW) + 60))).client_id == "svc"


def test_iat_in_future_rejected() -> None:
    assert rejected(verifier(), token(claims(iat=int(NOW) + 61))) == "issued_in_future"
    assert verifier().verify(token(claims(iat=int(NOW) + 60))).client_id == "svc"


def test_cached_token_rechecked_for_expiry_on_every_hit() -> None:
    clock = FakeClock(NOW)
    v = verifier(clock=clock)
    tok = token(claims(exp=int(NOW) + 100))
    v.verify(tok)
    clock.advance(159)
    assert v.verify(tok).client_id == "svc"
    clock.advance(1)
    assert rejected(v, tok) == "expired"


# Row 17 --------------------------------------------------------------------------------


@pytest.mark.parametrize("aud", [AUDIENCE, [AUDIENCE], ["other", AUDIENCE]])
def test_audience_string_or_list_containing_it_accepted(aud: Any) -> None:
    assert verifier().verify(token(claims(aud=aud))).audience == (
        (aud,) if isinstance(aud, str) else tuple(aud)
    )


@pytest.mark.parametrize(
    "aud",
    [[], "", "api://other", ["api://other"], [AUDIENCE, 5], [None], 5, {"a": AUDIENCE}, "api://"],
)
def test_audience_wrong_empty_or_non_string_items_rejected(aud: Any) -> None:
    assert rejected(verifier(), token(claims(aud=aud))) == "wrong_audience"


def test_audience_missing_rejected() -> None:
    assert rejected(verifier(), token(claims(aud=None))) == "wrong_audience"


def test_one_of_several_configured_audiences() -> None:
    v = verifier(audience=("api://a", "api://b"))
    assert v.verify(token(claims(aud="api://b"))).audience == ("api://b",)


# Row 18 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "/",
        ISSUER + "x",
        ISSUER[:-1],
        ISSUER.upper(),
        ISSUER.replace("okta.example.com", "OKTA.example.com"),
        "https://okta.example.com",
        "https://okta.example.com/oauth2/other",
        " " + ISSUER,
        "http" + ISSUER[5:],
        5,
        [ISSUER],
    ],
)
def test_issuer_exact_equality_only(iss: Any) -> None:
    assert rejected(verifier(), token(claims(iss=iss))) == "wrong_issuer"


# Row 19 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", ["dpop+jwt", "application/okta-internal-at+jwt", "JOSE", "id_token", "at+jwt+x"]
)
def test_foreign_token_types_rejected(typ: str) -> None:
    assert rejected(verifier(), token(header={"typ": typ})) == "wrong_token_type"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "JWT"])
def test_access_token_types_accepted(typ: str) -> None:
    assert verifier().verify(token(header={"typ": typ})).client_id == "svc"


def test_org_server_token_rejected() -> None:
    org = claims(iss="https://okta.example.com", aud="https://okta.example.com")
    assert rejected(verifier(), token(org)) == "wrong_issuer"


def test_id_token_rejected() -> None:
    id_token = claims(aud="0oa-client-id", nonce="n", at_hash="x", jti="ID.abc", cid=None, scp=None)
    assert rejected(verifier(), token(id_token)) == "wrong_audience"
    same_aud = claims(nonce="n", jti="ID.abc")
    assert rejected(verifier(), token(same_aud)) == "not_access_token"
    assert rejected(verifier(), token(claims(jti="ID.abc"))) == "not_access_token"


def test_dpop_proof_rejected() -> None:
    proof = claims(htm="GET", htu="https://api.example/x")
    assert rejected(verifier(), token(proof, header={"typ": "dpop+jwt"})) == "wrong_token_type"
    assert rejected(verifier(), token(proof)) == "not_access_token"


def test_strict_rfc9068_requires_typ_and_claims() -> None:
    v = verifier(strict_rfc9068=True)
    assert rejected(v, token()) == "wrong_token_type"
    assert rejected(v, token(header={"typ": "JWT"})) == "wrong_token_type"
    assert rejected(v, token(header={"typ": "at+jwt"})) == "missing_claim"
    good = claims(client_id="svc", scope="orders:read orders:write", scp=None)
    assert v.verify(token(good, header={"typ": "at+jwt"})).scopes == {"orders:read", "orders:write"}
    assert rejected(v, token(claims(client_id="svc", scope=["x"]), header={"typ": "at+jwt"})) == (
        "bad_claim"
    )


# Row 20 --------------------------------------------------------------------------------


def test_cid_not_in_allowlist_rejected() -> None:
    v = verifier(client_ids=["svc", "other"])
    assert v.verify(token()).client_id == "svc"
    assert rejected(v, token(claims(cid="intruder"))) == "client_id_not_allowed"
    assert rejected(v, token(claims(cid=None))) == "client_id_not_allowed"
    assert v.verify(token(claims(cid=None, client_id="other"))).client_id == "other"


# Row 21 --------------------------------------------------------------------------------


def test_dpop_bound_token_sent_as_bearer_rejected() -> None:
    assert rejected(verifier(), token(claims(cnf={"jkt": "0ZcOCORZNYy"}))) == "dpop_bound"
    assert rejected(verifier(), token(claims(cnf={"x5t#S256": "abc"}))) == "dpop_bound"


# Row 22 --------------------------------------------------------------------------------


def test_issuer_unreachable_keys_cached_keeps_verifying() -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock=clock, max_stale=3600)
    v.verify(token())
    endpoint.responses = [httpx.ConnectError("down")] * 50
    clock.advance(900)  # expired key set, within max_stale
    assert v.verify(token(claims(jti="AT.2", exp=int(NOW) + 3000))).client_id == "svc"
    assert v.stats.fetch_failures == 1 and v.stats.stale_serves >= 1
    clock.advance(3600)  # now beyond max_stale: the stale keys are no longer used
    with pytest.raises(IssuerUnavailableError):
        v.verify(token(claims(jti="AT.3", exp=int(NOW) + 9000)))


# Row 23 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(503, headers={"Retry-After": "17"}),
        httpx.Response(429, headers={"X-Rate-Limit-Reset": str(int(NOW) + 40)}),
        httpx.Response(200, content=b"<html>oops</html>"),
    ],
)
def test_issuer_unreachable_nothing_cached_is_503_with_retry_after(failure: Any) -> None:
    endpoint = JwksEndpoint(responses=[failure])
    v = verifier(endpoint)
    with pytest.raises(IssuerUnavailableError) as info:
        v.verify(token())
    assert info.value.status_code == 503
    assert info.value.retry_after >= 1
    if isinstance(failure, httpx.Response) and failure.status_code == 503:
        assert info.value.retry_after == 17
    if isinstance(failure, httpx.Response) and failure.status_code == 429:
        assert info.value.retry_after == 40


# Row 24 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": ISSUER + "/", "jwks_uri": "https://attacker.example/keys"},
        {"issuer": ISSUER, "jwks_uri": "https://attacker.example/keys"},
        {"issuer": ISSUER, "jwks_uri": "http://169.254.169.254/latest/meta-data"},
    ],
)
def test_discovery_metadata_refused_ssrf(metadata: dict[str, Any]) -> None:
    endpoint = JwksEndpoint(metadata=metadata)
    v = verifier(endpoint)
    assert v.verify(token()).client_id == "svc"
    assert metadata["jwks_uri"] not in endpoint.log
    assert v.stats.jwks_uri == f"{ISSUER}/v1/keys"


# Row 25 --------------------------------------------------------------------------------


def test_signature_checked_before_claims_uniform_error() -> None:
    v = verifier()
    forged = token(key="b")  # valid claims, wrong key
    assert rejected(v, forged) == "bad_signature"
    forged_bad_claims = token(claims(exp=1, iss="x", aud="y"), key="b")
    assert rejected(v, forged_bad_claims) == "bad_signature"
    garbage_payload = sign_segments(
        rsa_key("b"), b64u_json({"alg": "RS256", "kid": "kid-a"}), "AAAA"
    )
    assert rejected(v, garbage_payload) == "bad_signature"
    descriptions = set()
    for tok in (forged, forged_bad_claims, garbage_payload):
        with pytest.raises(InvalidTokenError) as info:
            v.verify(tok)
        descriptions.add(info.value.description)
    assert len(descriptions) == 1


def test_payload_swapped_under_a_valid_signature_rejected() -> None:
    head, _, sig = token().split(".")
    evil = b64u_json(claims(scp=["admin"]))
    assert rejected(verifier(), f"{head}.{evil}.{sig}") == "bad_signature"


# Row "token whose iss names none of the configured issuers (several issuers)" ---------


def test_unknown_issuer_refused_before_any_fetch_without_memory_growth() -> None:
    from okta_guard import MultiIssuerVerifier

    endpoint = JwksEndpoint()
    multi = MultiIssuerVerifier([verifier(endpoint)])
    for n in range(200):
        stranger = token(claims(iss=f"https://org{n}.example.com/oauth2/default"))
        with pytest.raises(InvalidTokenError) as info:
            multi.verify(stranger)
        assert info.value.reason == "unknown_issuer"
    for near in (ISSUER + "/", ISSUER.upper(), ISSUER + "x", ISSUER[:-1]):
        with pytest.raises(InvalidTokenError):
            multi.verify(token(claims(iss=near)))
    assert endpoint.log == []  # no discovery, no key fetch
    assert multi.stats[ISSUER].cached_tokens == 0
    assert multi.verify(token()).issuer == ISSUER


# Row "introspection says active: false" -------------------------------------------------


async def test_introspection_inactive_refused_within_the_cache_time() -> None:
    from okta_guard.verify.introspection import IntrospectionAnswer

    class Introspector:
        issuer = ISSUER
        active = True

        def introspect(self, raw: str) -> IntrospectionAnswer:
            return IntrospectionAnswer(active=self.active)

        async def introspect_async(self, raw: str) -> IntrospectionAnswer:
            return self.introspect(raw)

    clock = FakeClock(NOW)
    okta = Introspector()
    v = verifier(clock=clock, introspection=okta)
    tok = token()
    access = await v.verify_async(tok)
    assert await v.introspect_async(tok, access) is access
    okta.active = False  # revoked at Okta
    clock.advance(30)
    with pytest.raises(InvalidTokenError) as info:
        await v.introspect_async(tok, access)
    assert info.value.reason == "revoked"
    assert v.verify(tok) is access  # routes without introspection keep the local verdict
