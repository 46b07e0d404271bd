"""Cost per request of DPoP (RFC 9449) at the API, against a Bearer request and a raw verify.

All in one run, on a token the verifier has seen before (its verdict is cached), so what
is left is the per-request work:

* raw ES256: ``EllipticCurvePublicKey.verify`` (ECDSA P-256, SHA-256) on a pre-decoded
  proof signature (DER) and signing input - the floor of any proof check;
* proof check: ``TokenVerifier.verify_dpop`` - the cached token plus the whole proof
  check (parse, header key from the per-header cache, signature, ``htm``/``htu``/``iat``,
  ``ath``, ``cnf.jkt``, replay store);
* Bearer: ``TokenVerifier.verify_cached`` on the same kind of token;
* middleware: raw ASGI calls of ``OktaGuardMiddleware`` around a do-nothing app, with
  ``Authorization: DPoP`` + a proof, and with ``Authorization: Bearer``.

Proofs are single use, so each round gets fresh ones, made before its timing starts.
Rounds are interleaved with the garbage collector paused; the best round is reported,
and the proof check's ratio to the raw verify also as the median of per-round ratios.
Every row is CPU time of the benchmark's thread (waiting for a core on a busy machine
does not count); the raw verify and the proof check also run in alternating chunks of
ten, so that both see the same cache and frequency conditions.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from okta_guard.call.dpop import DPoPKey
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.testing import MockIssuer
from okta_guard.verify.verifier import TokenVerifier

PER_ROUND = 300
ROUNDS = 9
CHUNK = 10
URL = "http://api.example.com/orders"


def _timed(fn: Callable[[], Any], items: int) -> float:
    gc.disable()
    try:
        start = time.thread_time()
        fn()
        return (time.thread_time() - start) / items
    finally:
        gc.enable()


async def _noop_app(scope: Any, receive: Any, send: Any) -> None:
    return None


def _paired(
    public: ec.EllipticCurvePublicKey,
    der: bytes,
    signing_input: bytes,
    ecdsa: ec.ECDSA,
    verifier: TokenVerifier,
    token: str,
    proofs: list[str],
) -> tuple[float, float]:
    """Raw verifies and proof checks in alternating chunks of ``CHUNK``, so that both see
    the same machine load (per item, seconds of this thread's CPU time: waiting for a
    core on a busy machine does not count)."""
    raw_total = check_total = 0.0
    check = verifier.verify_dpop
    clock = time.thread_time
    gc.disable()
    try:
        for start in range(0, len(proofs), CHUNK):
            chunk = proofs[start : start + CHUNK]
            t0 = clock()
            for _ in chunk:
                public.verify(der, signing_input, ecdsa)
            t1 = clock()
            for proof in chunk:
                check(token, proof, method="GET", url=URL)
            t2 = clock()
            raw_total += t1 - t0
            check_total += t2 - t1
    finally:
        gc.enable()
    return raw_total / len(proofs), check_total / len(proofs)


def main() -> None:
    okta = MockIssuer()
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
    )
    key = DPoPKey()
    bound = okta.mint_token(scopes=["orders:read"], claims={"cnf": {"jkt": key.thumbprint}})
    bearer = okta.mint_token(scopes=["orders:read"])
    verifier.verify(bearer)
    verifier.verify_dpop(bound, key.proof("GET", URL, access_token=bound), method="GET", url=URL)
    middleware = OktaGuardMiddleware(_noop_app, verifier=verifier, resource_metadata=False)

    # The raw operation: ECDSA P-256 verify of one proof's signature.
    sample = key.proof("GET", URL, access_token=bound)
    head, payload, sig = sample.split(".")
    raw_sig = jwt.utils.base64url_decode(sig)
    der = encode_dss_signature(
        int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big")
    )
    signing_input = f"{head}.{payload}".encode()
    public: ec.EllipticCurvePublicKey = jwt.algorithms.ECAlgorithm.from_jwk(dict(key.public_jwk))  # type: ignore[assignment]
    ecdsa = ec.ECDSA(hashes.SHA256())

    def bearer_cached() -> None:
        check = verifier.verify_cached
        for _ in range(PER_ROUND):
            check(bearer)

    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def scope_for(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "path": "/orders",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"api.example.com"), *headers],
            "server": ("api.example.com", 80),
        }

    results: dict[str, list[float]] = {
        k: [] for k in ("raw", "proof", "bearer", "mw_dpop", "mw_bearer")
    }
    ratios: list[float] = []
    for _ in range(ROUNDS):
        proofs = [key.proof("GET", URL, access_token=bound) for _ in range(PER_ROUND)]
        mw_proofs = [key.proof("GET", URL, access_token=bound) for _ in range(PER_ROUND)]

        dpop_scopes = [
            scope_for([(b"authorization", b"DPoP " + bound.encode()), (b"dpop", p.encode())])
            for p in mw_proofs
        ]
        bearer_scopes = [
            scope_for([(b"authorization", b"Bearer " + bearer.encode())]) for _ in range(PER_ROUND)
        ]

        async def run_all(scopes: list[dict[str, Any]]) -> None:
            for scope in scopes:
                await middleware(scope, receive, send)

        def mw_dpop(scopes: list[dict[str, Any]] = dpop_scopes) -> None:
            loop.run_until_complete(run_all(scopes))

        def mw_bearer(scopes: list[dict[str, Any]] = bearer_scopes) -> None:
            loop.run_until_complete(run_all(scopes))

        r, p = _paired(public, der, signing_input, ecdsa, verifier, bound, proofs)
        results["raw"].append(r)
        results["proof"].append(p)
        results["bearer"].append(_timed(bearer_cached, PER_ROUND))
        results["mw_dpop"].append(_timed(mw_dpop, PER_ROUND))
        results["mw_bearer"].append(_timed(mw_bearer, PER_ROUND))
        ratios.append(p / r)
    loop.close()
    assert verifier.stats.verdicts.get("dpop_replay", 0) == 0, "a proof was refused"

    best = {k: min(v) * 1e6 for k, v in results.items()}
    rows = [
        ("raw ES256 verify (P-256)", best["raw"], 1.0),
        ("verify_dpop: cached token + proof check", best["proof"], best["proof"] / best["raw"]),
        ("verify_cached: Bearer, cached token", best["bearer"], best["bearer"] / best["raw"]),
        ("middleware, DPoP request", best["mw_dpop"], best["mw_dpop"] / best["raw"]),
        ("middleware, Bearer request", best["mw_bearer"], best["mw_bearer"] / best["raw"]),
    ]
    print(f"{'CPU per request (best of ' + str(ROUNDS) + ' rounds)':<44}{'us':>9}{'x raw':>8}")
    for name, us, ratio in rows:
        print(f"{name:<44}{us:>9.1f}{ratio:>8.2f}")
    print(
        f"proof check / raw ES256 verify: {best['proof'] / best['raw']:.2f}x best, "
        f"{statistics.median(ratios):.2f}x median of per-round ratios (aim <= 1.5x)"
    )
    print(
        f"DPoP request / Bearer request at the middleware: "
        f"{best['mw_dpop'] / best['mw_bearer']:.1f}x "
        f"(+{best['mw_dpop'] - best['mw_bearer']:.1f} us)"
    )
    okta.close()


if __name__ == "__main__":
    main()
