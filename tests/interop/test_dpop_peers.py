"""DPoP against peers okta-guard did not write.

* panva's ``oauth4webapi`` (npm, 3.x, run by node) gets a DPoP token from the mock issuer
  on its loopback server, with Okta's nonce dance, and calls an okta-guard-protected API
  served by uvicorn with its own proofs (and the API's own nonce).
* joserfc (Python, an independent JOSE implementation) verifies the proofs our
  ``TokenClient`` sends to that API and computes the RFC 7638 thumbprint of their keys.

The npm package is installed into a temporary folder; if that fails the test fails
(it is never skipped: CI has node and npm).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwk as jose_jwk
from joserfc import jws as jose_jws
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from okta_guard.call.client import TokenClient
from okta_guard.demo.api import DemoApiServer
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.testing import MockIssuer
from okta_guard.verify.verifier import TokenVerifier

SCRIPT = Path(__file__).with_name("oauth4webapi_client.mjs")
SECRET = "interop-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def oauth4webapi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm are needed for the DPoP interop test (apt-get install nodejs npm)"
        )
    folder = tmp_path_factory.mktemp("oauth4webapi")
    (folder / "package.json").write_text('{"name": "interop", "private": true, "type": "module"}')
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", "oauth4webapi@3"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"npm install oauth4webapi@3 failed: {result.stderr[-2000:]}")
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    return folder


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:
        issuer.register_client("node-app", SECRET, scopes=["orders:read"], dpop=True)
        issuer.register_client("py-app", SECRET, scopes=["orders:read"], dpop=True)
        yield issuer


class Seen:
    """The API's record of each request's DPoP header."""

    def __init__(self) -> None:
        self.proofs: list[str] = []


def api(okta: MockIssuer, seen: Seen) -> OktaGuardMiddleware:
    async def orders(request: Request) -> JSONResponse:
        seen.proofs.append(request.headers.get("dpop", ""))
        user = request.user
        return JSONResponse(
            {"scheme": user.scheme, "jkt": user.key_thumbprint, "client": user.client_id}
        )

    verifier = TokenVerifier(okta.issuer, okta.audience, dpop="required", dpop_nonce=True)
    inner = Starlette(routes=[Route("/orders", orders, methods=["GET", "POST"])])
    return OktaGuardMiddleware(inner, verifier=verifier)


def test_oauth4webapi_gets_a_dpop_token_and_calls_our_api(
    oauth4webapi: Path, okta: MockIssuer
) -> None:
    seen = Seen()
    with DemoApiServer(api(okta, seen), use_uvicorn=True) as server:
        result = subprocess.run(
            [
                "node",
                SCRIPT.name,
                okta.issuer,
                "node-app",
                SECRET,
                "orders:read",
                server.base_url,
            ],
            cwd=oauth4webapi,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    # Token endpoint: a proof without nonce (use_dpop_nonce), then the token.
    assert out["tokenType"].lower() == "dpop" and out["tokenAttempts"] == 2
    claims = jwt.decode(out["accessToken"], options={"verify_signature": False})
    jkt = claims["cnf"]["jkt"]
    get, post = out["calls"]
    # The API's nonce: the first call is answered 401 use_dpop_nonce, oauth4webapi retries.
    assert get == {
        "method": "GET",
        "attempts": 2,
        "status": 200,
        "body": {"scheme": "DPoP", "jkt": jkt, "client": "node-app"},
    }
    assert post["status"] == 200 and post["attempts"] == 1  # the nonce was kept
    assert out["bearerStatus"] == 401
    # oauth4webapi's proofs, checked independently of okta-guard too.
    for proof in seen.proofs:
        header = json.loads(jwt.utils.base64url_decode(proof.split(".")[0]))
        assert jose_jwk.import_key(header["jwk"]).thumbprint() == jkt


def independent_check(proof: str) -> tuple[str, dict[str, Any]]:
    """joserfc verifies the proof with the key in its header and gives its thumbprint."""
    header = json.loads(jwt.utils.base64url_decode(proof.split(".")[0]))
    assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]
    key = jose_jwk.import_key(header["jwk"])
    data = jose_jws.deserialize_compact(proof, key, algorithms=[header["alg"]])
    return key.thumbprint(), json.loads(data.payload)


def test_our_proofs_pass_an_independent_verifier(okta: MockIssuer) -> None:
    okta.clear_requests()
    seen = Seen()
    with DemoApiServer(api(okta, seen), use_uvicorn=True) as server:
        client = TokenClient(okta.issuer, "py-app", SECRET, scopes=["orders:read"])
        with httpx.Client(base_url=server.base_url, auth=client.auth) as http:
            first = http.get("/orders", params={"page": 1})
            second = http.post("/orders", json={"item": "tea"})
        token = client.get_token()
        client.close()
    assert first.status_code == second.status_code == 200
    assert token.token_type == "DPoP"
    jkt = jwt.decode(token.access_token, options={"verify_signature": False})["cnf"]["jkt"]
    assert first.json()["jkt"] == jkt
    assert len(seen.proofs) == 2
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.access_token.encode()).digest())
    for proof, method in zip(seen.proofs, ("GET", "POST"), strict=True):
        thumbprint, claims = independent_check(proof)
        assert thumbprint == jkt
        assert claims["htm"] == method
        assert claims["htu"] == f"{server.base_url}/orders"
        assert claims["ath"] == ath.rstrip(b"=").decode()
        assert claims["nonce"]
    # And the token endpoint's proofs in the mock's log.
    token_proofs = [r.headers["dpop"] for r in okta.requests if "dpop" in r.headers]
    assert token_proofs and all(independent_check(p)[0] == jkt for p in token_proofs)
