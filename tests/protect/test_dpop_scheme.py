"""The DPoP scheme at the middleware, require_scopes and FastAPI (RFC 9449 §7)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from okta_guard.call.dpop import DPoPKey
from okta_guard.fastapi import OktaAuth
from okta_guard.models import AccessToken
from okta_guard.protect.audit import audit_routes, format_table
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.scopes import require_scopes
from okta_guard.testing import FakeClock, MockIssuer
from okta_guard.verify.verifier import TokenVerifier

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

KEY = DPoPKey()
BASE = "http://testserver"


class Broken:
    def add(self, key: str, value: bytes, ttl: float) -> bool:
        raise OSError("store down")

    async def add_async(self, key: str, value: bytes, ttl: float) -> bool:
        raise OSError("store down")


def setup(**options: Any) -> tuple[MockIssuer, TokenVerifier]:
    okta = MockIssuer(clock=FakeClock())
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=okta.clock,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
        **options,
    )
    return okta, verifier


def bound_token(okta: MockIssuer, *scopes: str, key: DPoPKey = KEY) -> str:
    return okta.mint_token(
        scopes=scopes or ["orders:read"], client_id="svc", claims={"cnf": {"jkt": key.thumbprint}}
    )


def dpop_headers(
    okta: MockIssuer, token: str, method: str = "GET", url: str = BASE + "/orders", **kw: Any
) -> dict[str, str]:
    proof = KEY.proof(method, url, access_token=token, now=okta.clock(), **kw)
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


async def orders(request: Request) -> JSONResponse:
    user: AccessToken = request.user
    return JSONResponse({"scheme": user.scheme, "jkt": user.key_thumbprint})


def guarded(verifier: TokenVerifier, **kw: Any) -> TestClient:
    inner = Starlette(routes=[Route("/orders", orders, methods=["GET", "POST"])])
    return TestClient(OktaGuardMiddleware(inner, verifier=verifier, **kw))


def test_middleware_accepts_a_dpop_bound_token_with_its_proof() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    client = guarded(verifier)
    response = client.get("/orders?page=2", headers=dpop_headers(okta, token))
    assert response.status_code == 200
    assert response.json() == {"scheme": "DPoP", "jkt": KEY.thumbprint}
    lower = {
        "authorization": f"dpop {token}",
        "dpop": KEY.proof("POST", BASE + "/orders", access_token=token, now=okta.clock()),
    }
    assert client.post("/orders", headers=lower).status_code == 200


def test_bearer_tokens_still_work_and_stay_on_the_cached_path() -> None:
    okta, verifier = setup()
    plain = okta.mint_token(scopes=["orders:read"], client_id="svc")
    client = guarded(verifier)
    for _ in range(3):
        response = client.get("/orders", headers={"Authorization": f"Bearer {plain}"})
        assert response.json() == {"scheme": "Bearer", "jkt": None}
    assert verifier.stats.cache_hits == 2


def test_replayed_proof_refused_with_dpop_challenge_beside_bearer() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    client = guarded(verifier, resource_metadata=False)
    headers = dpop_headers(okta, token)
    assert client.get("/orders", headers=headers).status_code == 200
    replay = client.get("/orders", headers=headers)
    assert replay.status_code == 401
    challenge = replay.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api://default", DPoP realm="api://default", ')
    assert 'error="invalid_dpop_proof"' in challenge
    assert 'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512"' in challenge
    assert replay.json()["error"] == "invalid_dpop_proof"


def test_proof_for_another_url_or_method_refused() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    client = guarded(verifier)
    other_url = dpop_headers(okta, token, url=BASE + "/admin")
    assert client.get("/orders", headers=other_url).json()["error"] == "invalid_dpop_proof"
    other_method = dpop_headers(okta, token, method="POST")
    assert client.get("/orders", headers=other_method).status_code == 401


def test_stolen_bound_token_used_as_bearer_refused() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    response = guarded(verifier, resource_metadata=False).get(
        "/orders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api://default", error="invalid_token"')
    assert challenge.endswith(
        'DPoP realm="api://default", algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512"'
    )


def test_two_dpop_headers_or_a_malformed_one_are_400() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    client = guarded(verifier)
    good = dpop_headers(okta, token)
    twice = [
        ("Authorization", good["Authorization"]),
        ("DPoP", good["DPoP"]),
        ("DPoP", good["DPoP"]),
    ]
    response = client.get("/orders", headers=twice)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert (
        'DPoP realm="api://default", error="invalid_request"'
        in response.headers["www-authenticate"]
    )
    for bad in ("not a jwt", "a.b", "a.b.c.d", "\xe9.b.c".encode("latin-1")):
        headers = {"Authorization": good["Authorization"], "DPoP": bad}
        assert client.get("/orders", headers=headers).status_code == 400, bad
    for auth in ("DPoP ", "DPoP a b", "DPoP \xe9".encode("latin-1")):
        headers = {"Authorization": auth, "DPoP": good["DPoP"]}
        assert client.get("/orders", headers=headers).status_code == 400, auth


def test_dpop_scheme_without_proof_is_401_invalid_dpop_proof() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    response = guarded(verifier).get("/orders", headers={"Authorization": f"DPoP {token}"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_dpop_proof"


def test_required_mode_refuses_bearer_and_challenges_only_dpop() -> None:
    okta, verifier = setup(dpop="required")
    plain = okta.mint_token(scopes=["orders:read"], client_id="svc")
    client = guarded(verifier, resource_metadata=False)
    refused = client.get("/orders", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith(
        'DPoP realm="api://default", error="invalid_token"'
    )
    assert "Bearer" not in refused.headers["www-authenticate"]
    anonymous = client.get("/orders")
    assert "Authorization: DPoP" in anonymous.json()["error_description"]
    assert anonymous.headers["www-authenticate"] == (
        'DPoP realm="api://default", algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512"'
    )
    token = bound_token(okta)
    assert client.get("/orders", headers=dpop_headers(okta, token)).status_code == 200


def test_disabled_mode_knows_no_dpop() -> None:
    okta, verifier = setup(dpop="disabled")
    token = bound_token(okta)
    client = guarded(verifier, resource_metadata=False)
    response = client.get("/orders", headers=dpop_headers(okta, token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api://default"'
    assert (
        "dpop_signing_alg_values_supported"
        not in guarded(verifier).get("/.well-known/oauth-protected-resource").json()
    )


def test_server_nonce_401_then_accepted() -> None:
    okta, verifier = setup(dpop_nonce=True)
    token = bound_token(okta)
    client = guarded(verifier)
    first = client.get("/orders", headers=dpop_headers(okta, token))
    assert first.status_code == 401 and first.json()["error"] == "use_dpop_nonce"
    assert 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
    nonce = first.headers["dpop-nonce"]
    again = client.get("/orders", headers=dpop_headers(okta, token, nonce=nonce))
    assert again.status_code == 200


def test_replay_store_failure_is_503_with_retry_after() -> None:
    okta, verifier = setup(replay_store=Broken())
    token = bound_token(okta)
    response = guarded(verifier).get("/orders", headers=dpop_headers(okta, token))
    assert response.status_code == 503 and "retry-after" in response.headers
    assert "www-authenticate" not in response.headers


def test_htu_honours_root_path() -> None:
    okta, verifier = setup()
    token = bound_token(okta)
    inner = Starlette(routes=[Route("/orders", orders)])
    outer = Starlette(routes=[Mount("/api", OktaGuardMiddleware(inner, verifier=verifier))])
    client = TestClient(outer)
    ok = client.get("/api/orders", headers=dpop_headers(okta, token, url=BASE + "/api/orders"))
    assert ok.status_code == 200
    wrong = client.get("/api/orders", headers=dpop_headers(okta, token))
    assert wrong.status_code == 401


def test_fixed_external_origin_behind_a_proxy() -> None:
    okta, verifier = setup(dpop_origin="https://api.example.com")
    token = bound_token(okta)
    client = guarded(verifier)
    public = dpop_headers(okta, token, url="https://api.example.com/orders")
    assert client.get("/orders", headers=public).status_code == 200
    internal = dpop_headers(okta, token)  # the URL the proxy used, not the client's
    assert client.get("/orders", headers=internal).status_code == 401


def test_metadata_reflects_the_setting() -> None:
    for mode, required in (("allowed", False), ("required", True)):
        _, verifier = setup(dpop=mode, dpop_algorithms=["ES256", "PS256"])
        doc = guarded(verifier).get("/.well-known/oauth-protected-resource").json()
        assert doc["dpop_signing_alg_values_supported"] == ["ES256", "PS256"]
        assert doc["dpop_bound_access_tokens_required"] is required


def test_route_audit_reflects_the_setting() -> None:
    table = {}
    for mode in ("allowed", "required", "disabled"):
        _, verifier = setup(dpop=mode)
        app = Starlette(routes=[Route("/orders", orders)])
        app.add_middleware(OktaGuardMiddleware, verifier=verifier)
        (info,) = [i for i in audit_routes(app) if i.path == "/orders"]
        table[mode] = info.schemes
        if mode == "required":
            assert "DPoP only" in format_table([info])
    assert table == {
        "allowed": ("Bearer", "DPoP"),
        "required": ("DPoP",),
        "disabled": ("Bearer",),
    }


def test_require_scopes_without_middleware_accepts_dpop() -> None:
    okta, verifier = setup()

    @require_scopes("orders:write", verifier=verifier)
    async def write(request: Request) -> JSONResponse:
        return JSONResponse({"scheme": request.user.scheme})

    client = TestClient(Starlette(routes=[Route("/orders", write, methods=["POST"])]))
    token = bound_token(okta, "orders:write")
    ok = client.post("/orders", headers=dpop_headers(okta, token, method="POST"))
    assert ok.json() == {"scheme": "DPoP"}
    weak = bound_token(okta, "orders:read")
    refused = client.post("/orders", headers=dpop_headers(okta, weak, method="POST"))
    assert refused.status_code == 403
    assert (
        'DPoP realm="api://default", error="insufficient_scope"'
        in refused.headers["www-authenticate"]
    )
    replay = client.post("/orders", headers={"Authorization": f"DPoP {token}", "DPoP": "x.y.z"})
    assert replay.status_code == 401


def test_fastapi_dependency_accepts_dpop() -> None:
    okta, verifier = setup()
    okta_auth = OktaAuth(verifier)
    app = FastAPI()
    okta_auth.install(app)

    @app.get("/orders")
    async def read(token: AccessToken = okta_auth.require("orders:read")) -> dict[str, Any]:  # noqa: B008
        return {"scheme": token.scheme, "jkt": token.key_thumbprint}

    client = TestClient(app)
    token = bound_token(okta)
    assert client.get("/orders", headers=dpop_headers(okta, token)).json() == {
        "scheme": "DPoP",
        "jkt": KEY.thumbprint,
    }
    as_bearer = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and "DPoP realm=" in as_bearer.headers["www-authenticate"]
    doc = client.get("/.well-known/oauth-protected-resource").json()
    assert doc["dpop_bound_access_tokens_required"] is False


@pytest.mark.parametrize("path", ["/orders"])
def test_websocket_dpop_uses_get(path: str) -> None:
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    okta, verifier = setup()

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({"scheme": ws.user.scheme})
        await ws.close()

    inner = Starlette(routes=[WebSocketRoute(path, echo)])
    client = TestClient(OktaGuardMiddleware(inner, verifier=verifier))
    token = bound_token(okta)
    with client.websocket_connect(path, headers=dpop_headers(okta, token)) as ws:
        assert ws.receive_json() == {"scheme": "DPoP"}


def test_multi_issuer_verifier_routes_dpop_to_the_token_issuer() -> None:
    from okta_guard.verify.multi import MultiIssuerVerifier

    okta = MockIssuer(clock=FakeClock())
    okta.add_auth_server("aus2")

    def verifier(issuer: str, audience: str, **options: Any) -> TokenVerifier:
        return TokenVerifier(
            issuer, audience, clock=okta.clock, http_client=okta.http_client(), **options
        )

    multi = MultiIssuerVerifier(
        [
            verifier(okta.issuer, okta.audience, dpop="required"),
            verifier(okta.issuer_for("aus2"), "api://aus2", dpop="disabled"),
        ]
    )
    assert multi.dpop_mode == "allowed" and "ES256" in multi.dpop_algorithms
    client = guarded(multi)  # type: ignore[arg-type]
    token = bound_token(okta)
    assert client.get("/orders", headers=dpop_headers(okta, token)).json()["scheme"] == "DPoP"
    other = okta.mint_token(
        scopes=["orders:read"], claims={"cnf": {"jkt": KEY.thumbprint}}, server="aus2"
    )
    assert client.get("/orders", headers=dpop_headers(okta, other)).status_code == 401
    plain = okta.mint_token(scopes=["orders:read"], server="aus2")
    bearer = client.get("/orders", headers={"Authorization": f"Bearer {plain}"})
    assert bearer.json()["scheme"] == "Bearer"
    first = okta.mint_token(scopes=["orders:read"])
    assert client.get("/orders", headers={"Authorization": f"Bearer {first}"}).status_code == 401
