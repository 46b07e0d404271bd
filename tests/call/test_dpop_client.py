"""TokenClient with DPoP: proof keys, Okta's nonce dance, the cache, and client.auth at an API.

Proofs are checked with joserfc (an independent JOSE implementation) as well as by the
mock issuer and okta-guard's own middleware.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwk as jose_jwk
from joserfc import jws as jose_jws
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_guard.call.client import TokenClient
from okta_guard.call.dpop import DPoPKey, proof_htu
from okta_guard.errors import ConfigurationError, TokenRequestError
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.verifier import TokenVerifier
from tests.support.client_fakes import SCOPE, SECRET, make_client

EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWT_SECRET = "j" * 40


def dpop_okta(clock: FakeClock | None = None) -> MockIssuer:
    okta = MockIssuer(clock=clock or FakeClock())
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(APP_KEY.public_key()))
    okta.register_client("dpop-app", SECRET, scopes=[SCOPE], dpop=True)
    okta.register_client("dpop-jwt", JWT_SECRET, scopes=[SCOPE], dpop=True)
    okta.register_client("dpop-key", scopes=[SCOPE], dpop=True, public_key={"keys": [public]})
    okta.register_client("bearer-app", SECRET, scopes=[SCOPE])
    return okta


def independent_claims(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify ``proof`` with joserfc, using only the key in its own header."""
    header = json.loads(jwt.utils.base64url_decode(proof.split(".")[0]))
    key = jose_jwk.import_key(header["jwk"])
    registry = jose_jws.JWSRegistry(algorithms=[header["alg"]])
    registry.max_header_length = 4096  # an RSA jwk in the header is longer than its default
    data = jose_jws.deserialize_compact(proof, key, registry=registry)
    return dict(data.headers()), json.loads(data.payload)


def token_proofs(okta: MockIssuer) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = []
    for record in okta.requests:
        if record.endpoint == "token":
            proof = record.headers.get("dpop")
            out.append(independent_claims(proof)[1] if proof else None)
    return out


# -- the proof key -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "alg"),
    [
        (None, "ES256"),
        (EC_PEM, "ES256"),
        (EC_PEM.encode(), "ES256"),
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ec.generate_private_key(ec.SECP521R1()), "ES512"),
        (RSA_KEY, "RS256"),
        (json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY)), "RS256"),
    ],
)
def test_proof_keys_load_and_sign_verifiable_proofs(source: Any, alg: str) -> None:
    key = DPoPKey(source)
    assert key.algorithm == alg
    # An independent RFC 7638 thumbprint (joserfc) of the public key in the proof.
    assert jose_jwk.import_key(dict(key.public_jwk)).thumbprint() == key.thumbprint
    proof = key.proof("get", "https://api.example.com/a/b?q=1#frag", access_token="tok", now=100)
    header, claims = independent_claims(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == alg
    assert "d" not in header["jwk"]
    assert claims["htm"] == "GET" and claims["htu"] == "https://api.example.com/a/b"
    assert claims["iat"] == 100 and len(claims["jti"]) >= 16
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert claims["ath"] == digest
    assert key.proof("GET", "https://x.example/") != key.proof("GET", "https://x.example/")
    assert "PRIVATE" not in repr(key) and key.thumbprint in repr(key)


def test_weak_or_public_keys_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigurationError, match="2048"):
        DPoPKey(weak)
    public = json.loads(
        jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    with pytest.raises(ConfigurationError, match="public key"):
        DPoPKey(public)
    with pytest.raises(ConfigurationError):
        TokenClient(
            "https://o.example.com/oauth2/default",
            "c",
            "s",
            scopes=[SCOPE],
            dpop=False,
            dpop_key=EC_PEM,
        )
    with pytest.raises(ValueError):
        proof_htu("/relative")


# -- the token endpoint ----------------------------------------------------------------------


AUTH_METHODS = [
    ("dpop-app", {"auth_method": "client_secret_basic"}),
    ("dpop-app", {"auth_method": "client_secret_post"}),
    ("dpop-jwt", {"auth_method": "client_secret_jwt", "secret": JWT_SECRET}),
    ("dpop-key", {"secret": None, "private_key": APP_KEY}),
]


@pytest.mark.parametrize(("client_id", "options"), AUTH_METHODS)
def test_nonce_dance_for_every_auth_method_then_one_request(
    client_id: str, options: dict[str, Any]
) -> None:
    okta = dpop_okta()
    client = make_client(okta, client_id=client_id, **options)
    token = client.get_token()
    assert token.token_type == "DPoP" and client.uses_dpop
    # Without a proof (refused), with a proof but no nonce (use_dpop_nonce), then the token.
    assert [r.status for r in okta.requests] == [400, 400, 200]
    first, second, third = token_proofs(okta)
    assert first is None and second is not None and third is not None
    assert "nonce" not in second and third["nonce"]
    assert second["jti"] != third["jti"] and third["htu"] == okta.token_url
    # The mock's request log shows the proofs and the nonces.
    logged = [r.dpop for r in okta.requests]
    assert logged[0] is None and logged[1]["nonce"] is None  # type: ignore[index]
    assert logged[2]["nonce"] == third["nonce"] and logged[2]["htm"] == "POST"  # type: ignore[index]
    assertions = [r.form.get("client_assertion") for r in okta.requests]
    if "client_assertion" in okta.requests[0].form:
        assert len(set(assertions)) == 3  # a fresh client assertion for every try
    okta.clear_requests()
    refreshed = client.get_token(force_refresh=True)
    assert refreshed.access_token != token.access_token
    assert [r.status for r in okta.requests] == [200]  # the nonce was remembered
    assert token_proofs(okta)[0]["nonce"] == third["nonce"]  # type: ignore[index]


@pytest.mark.parametrize(("client_id", "options"), AUTH_METHODS)
async def test_nonce_dance_async_single_flight(client_id: str, options: dict[str, Any]) -> None:
    okta = dpop_okta()
    client = make_client(
        okta,
        client_id=client_id,
        **options,
    )
    tokens = await asyncio.gather(*(client.get_token_async() for _ in range(8)))
    assert len({t.access_token for t in tokens}) == 1
    assert tokens[0].token_type == "DPoP"
    assert okta.count("token") == 3
    assert client.get_token() is tokens[0]


def test_dpop_true_sends_proofs_from_the_first_request() -> None:
    okta = dpop_okta()
    client = make_client(okta, client_id="dpop-app", dpop=True)
    assert client.cache_key.dpop_jkt == client.dpop_key.thumbprint  # type: ignore[union-attr]
    assert client.get_token().token_type == "DPoP"
    assert [r.status for r in okta.requests] == [400, 200]


def test_dpop_true_against_a_bearer_app_gets_a_bearer_token() -> None:
    okta = dpop_okta()
    client = make_client(okta, client_id="bearer-app", dpop=True)
    assert client.get_token().token_type == "Bearer"


def test_dpop_false_against_a_dpop_app_says_what_to_change() -> None:
    okta = dpop_okta()
    client = make_client(okta, client_id="dpop-app", dpop=False)
    assert client.dpop_key is None
    with pytest.raises(TokenRequestError) as info:
        client.get_token()
    text = info.value.description
    assert info.value.error == "invalid_dpop_proof"
    assert "dpop=None" in text and "Require Demonstrating Proof of Possession" in text
    assert SECRET not in text and okta.count("token") == 1


def test_bearer_apps_keep_sharing_a_cache_slot_and_send_no_proof() -> None:
    okta = dpop_okta()
    a = make_client(okta, client_id="bearer-app")
    b = make_client(okta, client_id="bearer-app")
    assert a.cache_key == b.cache_key and a.cache_key.dpop_jkt is None
    assert a.get_token().token_type == "Bearer"
    assert "dpop" not in okta.requests[0].headers and not a.uses_dpop


def test_cache_key_holds_the_proof_key_thumbprint() -> None:
    okta = dpop_okta()
    shared = DPoPKey()
    one = make_client(okta, client_id="dpop-app", dpop_key=shared)
    two = make_client(okta, client_id="dpop-app", dpop_key=shared)
    other = make_client(okta, client_id="dpop-app", dpop_key=DPoPKey())
    assert one.cache_key == two.cache_key != other.cache_key
    assert one.cache_key.dpop_jkt == shared.thumbprint
    auto = make_client(okta, client_id="dpop-app")
    assert auto.cache_key.dpop_jkt is None
    auto.get_token()
    assert auto.cache_key.dpop_jkt == auto.dpop_key.thumbprint  # type: ignore[union-attr]


def test_a_token_bound_to_one_key_is_never_served_to_another() -> None:
    from okta_guard.call.token_cache import TokenCache

    okta = dpop_okta()
    cache = TokenCache()
    one = make_client(okta, client_id="dpop-app", cache=cache)
    two = make_client(okta, client_id="dpop-app", cache=cache)
    first, second = one.get_token(), two.get_token()
    assert first.access_token != second.access_token
    jkts = {
        jwt.decode(t.access_token, options={"verify_signature": False})["cnf"]["jkt"]
        for t in (first, second)
    }
    assert jkts == {one.dpop_key.thumbprint, two.dpop_key.thumbprint}  # type: ignore[union-attr]


def test_nonce_rotation_costs_one_extra_request() -> None:
    clock = FakeClock()
    okta = dpop_okta(clock)
    client = make_client(okta, client_id="dpop-app")
    client.get_token()
    clock.advance(4 * 86400)  # the remembered nonce is now too old
    okta.clear_requests()
    assert client.get_token().token_type == "DPoP"
    assert [r.status for r in okta.requests] == [400, 200]


# -- client.auth at a DPoP-protected API ------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {"scheme": user.scheme, "jkt": user.key_thumbprint, "method": request.method}
    )


class Api:
    def __init__(self, okta: MockIssuer, **options: Any) -> None:
        self.verifier = TokenVerifier(
            okta.issuer,
            okta.audience,
            clock=okta.clock,
            http_client=okta.http_client(),
            async_http_client=okta.async_http_client(),
            **options,
        )
        inner = Starlette(routes=[Route("/whoami", whoami, methods=["GET", "POST"])])
        self.app = OktaGuardMiddleware(inner, verifier=self.verifier)
        self.statuses: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, record)


@pytest.mark.parametrize("nonce", [False, True])
async def test_auth_calls_a_dpop_api_async(nonce: bool) -> None:
    okta = dpop_okta(FakeClock(__import__("time").time()))
    api = Api(okta, dpop="required", dpop_nonce=nonce)
    client = make_client(okta, client_id="dpop-app")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://api.test", auth=client.auth
    ) as http:
        first = await http.get("/whoami", params={"q": "1"})
        second = await http.post("/whoami", json={"order": 1})
    assert first.json() == {
        "scheme": "DPoP",
        "jkt": client.dpop_key.thumbprint,  # type: ignore[union-attr]
        "method": "GET",
    }
    assert second.status_code == 200 and second.json()["method"] == "POST"
    # With server nonces: one 401 use_dpop_nonce, then the nonce is kept for the origin.
    assert api.statuses == ([401, 200, 200] if nonce else [200, 200])


def test_auth_calls_a_dpop_api_sync_with_nonce_retry() -> None:
    from starlette.testclient import TestClient

    okta = dpop_okta(FakeClock(__import__("time").time()))
    api = Api(okta, dpop_nonce=True)
    client = make_client(okta, client_id="dpop-app")
    with TestClient(api) as http:
        http.auth = client.auth
        assert http.get("/whoami").json()["scheme"] == "DPoP"
        assert http.put("/whoami").status_code == 405  # method not routed, but authenticated
        assert http.post("/whoami", content=b"{}").status_code == 200
    assert api.statuses == [401, 200, 405, 200]


async def test_auth_sends_bearer_for_a_bearer_token() -> None:
    okta = dpop_okta(FakeClock(__import__("time").time()))
    api = Api(okta)
    client = make_client(okta, client_id="bearer-app")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://api.test", auth=client.auth
    ) as http:
        response = await http.get("/whoami", headers={"DPoP": "left-over"})
    assert response.json()["scheme"] == "Bearer"


def test_dpop_proof_for_other_http_stacks() -> None:
    from starlette.testclient import TestClient

    okta = dpop_okta(FakeClock(__import__("time").time()))
    api = Api(okta)
    client = make_client(okta, client_id="dpop-app")
    token = client.get_token()
    url = "http://testserver/whoami?x=1"
    with TestClient(api) as http:
        proof = client.dpop_proof("GET", url, access_token=token.access_token)
        headers = {"Authorization": f"DPoP {token.access_token}", "DPoP": proof}
        assert http.get(url, headers=headers).status_code == 200
        assert http.get(url, headers=headers).status_code == 401  # a proof is single use
    _, claims = independent_claims(proof)
    assert claims["htu"] == "http://testserver/whoami" and "ath" in claims
    assert "ath" not in independent_claims(client.dpop_proof("GET", url))[1]


def test_dpop_settings_from_the_environment(tmp_path: Any) -> None:
    from okta_guard.call.config import kwargs_from_env

    key_file = tmp_path / "dpop.pem"
    key_file.write_text(EC_PEM)
    kwargs = kwargs_from_env({"OKTA_DPOP": "always", "OKTA_DPOP_KEY_FILE": str(key_file)})
    assert kwargs["dpop"] is True and kwargs["dpop_key"] == EC_PEM
    assert kwargs_from_env({"OKTA_DPOP": "never"})["dpop"] is False
    with pytest.raises(ConfigurationError):
        kwargs_from_env({"OKTA_DPOP": "sometimes"})


def test_threads_waiting_through_the_switch_share_one_token() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.client_fakes import GatedTransport

    okta = dpop_okta()
    gate = GatedTransport(okta.transport, gated=1)
    client = make_client(okta, client_id="dpop-app", transport=gate)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(client.get_token)
        assert gate.entered.wait(10)
        others = [pool.submit(client.get_token) for _ in range(5)]
        gate.open()
        tokens = {f.result(timeout=30).access_token for f in [first, *others]}
    assert len(tokens) == 1
    assert okta.count("token") == 3  # one dance for everyone
