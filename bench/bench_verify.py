"""Cost per access token: okta-guard against the raw signature check and its peers.

All verifiers check the same RS256 tokens against the same JWKS, served over
HTTPS by the mock issuer on a loopback port (a throw-away ``trustme`` CA; each
client is told to trust it: ``verify=`` for httpx, ``ssl_context=`` for PyJWT's
``PyJWKClient``, ``REQUESTS_CA_BUNDLE`` for okta-jwt-verifier's sync path, and an
``ssl=`` request parameter for its aiohttp-based async path via a
``RequestExecutor`` subclass - nothing else of it is patched).  Every verifier
fetches the keys once before timing starts, so the numbers are per-token CPU
cost, not network.

* raw: ``RSAPublicKey.verify`` (PKCS#1 v1.5, SHA-256) on pre-decoded
  signature and signing input - the floor any verifier pays.  Shown beside it:
  the RSA public-key operation alone (``recover_data_from_signature``, what
  okta-guard calls before comparing the DigestInfo itself), so that the table
  tells how much of okta-guard's cost is not the RSA operation.
* okta-guard first sight: distinct tokens, verified-token cache cleared between
  rounds (outside the timing); repeated: one token over and over.
* PyJWT: ``PyJWKClient.get_signing_key_from_jwt`` + ``jwt.decode`` (issuer,
  audience, expiry checked).
* okta-jwt-verifier 0.5: ``AccessTokenVerifier.verify_sync`` / ``await verify``.

Timing: rounds of the fast cases are interleaved (raw, okta-guard, ...) with
the garbage collector paused, and the best round is reported (``timeit``
convention); the first-sight ratio is also given as the median of per-round
ratios, which is robust to a busy machine.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from okta_guard.testing import MockIssuer
from okta_guard.verify.verifier import TokenVerifier

TOKENS = 1000
REPEATS = 20_000
ROUNDS = 21


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _per_item(fn: Callable[[], Any], items: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) / items
    finally:
        gc.enable()


def _tls() -> tuple[ssl.SSLContext, ssl.SSLContext, bytes]:
    import trustme

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client, ca.cert_pem.bytes()


def main() -> None:
    """Print the table and the ratios."""
    server_ctx, client_ctx, ca_pem = _tls()
    with tempfile.TemporaryDirectory() as tmp, MockIssuer(ssl_context=server_ctx) as okta:
        ca_file = Path(tmp) / "ca.pem"
        ca_file.write_bytes(ca_pem)
        _run(okta, client_ctx, str(ca_file))


def _run(okta: MockIssuer, client_ctx: ssl.SSLContext, ca_file: str) -> None:
    import jwt

    issuer, audience = okta.issuer, okta.audience
    tokens = [
        okta.mint_token(scopes=["orders:read", "orders:write"], client_id="svc")
        for _ in range(TOKENS)
    ]
    repeated = tokens[0]

    # okta-guard, with the keys fetched once over HTTPS.
    verifier = TokenVerifier(
        issuer,
        audience,
        http_client=httpx.Client(verify=client_ctx),
        async_http_client=httpx.AsyncClient(verify=client_ctx),
    )
    verifier.prewarm()
    entry = verifier.key_cache.current(okta.active_kid(), time.time())
    assert entry is not None
    key = entry.key
    raw_inputs = [(_b64(t.rsplit(".", 1)[1]), t.rsplit(".", 1)[0].encode()) for t in tokens]
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def raw() -> None:
        for signature, signing_input in raw_inputs:
            key.verify(signature, signing_input, pkcs1, sha256)

    def rsa_only() -> None:  # the public-key operation alone, no hashing (see the docstring)
        for signature, _ in raw_inputs:
            key.recover_data_from_signature(signature, pkcs1, None)

    def first_sight() -> None:
        for token in tokens:
            verifier.verify(token)

    def repeat() -> None:
        for _ in range(REPEATS):
            verifier.verify(repeated)

    # PyJWT: its JWKS client (keys cached after the first call) + jwt.decode.
    jwks_client = jwt.PyJWKClient(f"{issuer}/v1/keys", ssl_context=client_ctx)

    def pyjwt() -> None:
        for token in tokens:
            signing_key = jwks_client.get_signing_key_from_jwt(token)
            jwt.decode(
                token, signing_key.key, algorithms=["RS256"], audience=audience, issuer=issuer
            )

    pyjwt()  # fetch the keys outside the timing

    loop = asyncio.new_event_loop()

    async def first_sight_async() -> None:
        for token in tokens:
            await verifier.verify_async(token)

    async def repeat_async() -> None:
        for _ in range(REPEATS):
            await verifier.verify_async(repeated)

    times: dict[str, list[float]] = {
        name: []
        for name in ("raw", "rsa", "first", "first_async", "repeat", "repeat_async", "pyjwt")
    }
    for _ in range(ROUNDS):  # interleaved, so a busy machine hurts every case alike
        times["raw"].append(_per_item(raw, TOKENS))
        times["rsa"].append(_per_item(rsa_only, TOKENS))
        verifier.clear_cache()
        times["first"].append(_per_item(first_sight, TOKENS))
        verifier.clear_cache()
        times["first_async"].append(
            _per_item(lambda: loop.run_until_complete(first_sight_async()), TOKENS)
        )
        times["repeat"].append(_per_item(repeat, REPEATS))
        times["repeat_async"].append(
            _per_item(lambda: loop.run_until_complete(repeat_async()), REPEATS)
        )
        times["pyjwt"].append(_per_item(pyjwt, TOKENS))
    loop.close()
    assert verifier.stats.fetches == 1
    best = {name: min(values) for name, values in times.items()}

    okta_sync, okta_async = _okta_jwt_verifier(issuer, audience, tokens, client_ctx, ca_file)

    rows = [
        ("raw cryptography RS256 verify (floor)", best["raw"]),
        ("  of which the RSA public-key operation", best["rsa"]),
        ("okta-guard verify, first sight", best["first"]),
        ("okta-guard verify_async, first sight", best["first_async"]),
        ("okta-guard verify, repeated token", best["repeat"]),
        ("okta-guard verify_async, repeated token", best["repeat_async"]),
        ("PyJWT PyJWKClient + jwt.decode", best["pyjwt"]),
        ("okta-jwt-verifier verify_sync", okta_sync),
        ("okta-jwt-verifier verify (async)", okta_async),
    ]
    floor = best["raw"]
    print(f"{'verifier':44s} {'us/token':>10s} {'x raw':>8s}")
    for name, seconds in rows:
        print(f"{name:44s} {seconds * 1e6:10.2f} {seconds / floor:8.2f}")
    paired = statistics.median(f / r for f, r in zip(times["first"], times["raw"], strict=True))
    print()
    print(
        f"first sight / raw signature check: {best['first'] / floor:.2f}x best rounds "
        f"(async {best['first_async'] / floor:.2f}x), {paired:.2f}x median of paired rounds "
        "(target <= 1.5x)"
    )
    print(
        f"okta-guard first sight beyond the RSA operation: "
        f"{(best['first'] - best['rsa']) * 1e6:.2f} us/token (parsing, base64, JSON, claims, "
        "cache); the RSA operation alone is "
        f"{best['rsa'] / floor:.2f}x the floor"
    )
    print(
        f"okta-jwt-verifier async / okta-guard repeated: "
        f"{okta_async / best['repeat_async']:.0f}x with verify_async, "
        f"{okta_async / best['repeat']:.0f}x with verify (target >= 300x)"
    )
    print(
        f"okta-guard first sight is {best['pyjwt'] / best['first']:.1f}x faster than PyJWT "
        f"and {okta_sync / best['first']:.1f}x faster than okta-jwt-verifier verify_sync"
    )


def _okta_jwt_verifier(
    issuer: str,
    audience: str,
    tokens: list[str],
    client_ctx: ssl.SSLContext,
    ca_file: str,
) -> tuple[float, float]:
    from okta_jwt_verifier import AccessTokenVerifier
    from okta_jwt_verifier.request_executor import RequestExecutor

    class TrustingExecutor(RequestExecutor):  # type: ignore[misc]
        """Pass the benchmark CA to aiohttp (``ssl=``); requests reads REQUESTS_CA_BUNDLE."""

        def _build_request_params(self, **params: Any) -> dict[str, Any]:
            built: dict[str, Any] = super()._build_request_params(**params)
            built["ssl"] = client_ctx
            return built

    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    try:
        sync_verifier = AccessTokenVerifier(issuer=issuer, audience=audience)
        sync_verifier.verify_sync(tokens[0])  # fetch the keys
        sample = tokens[:200]
        sync_best = min(
            _per_item(lambda: [sync_verifier.verify_sync(t) for t in sample], len(sample))
            for _ in range(3)
        )

        async def run() -> float:
            async_verifier = AccessTokenVerifier(
                issuer=issuer, audience=audience, request_executor=TrustingExecutor
            )
            await async_verifier.verify(tokens[0])  # fetch the keys
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                for token in sample:
                    await async_verifier.verify(token)
                best = min(best, (time.perf_counter() - start) / len(sample))
            return best

        async_best = asyncio.run(run())
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
    return sync_best, async_best


if __name__ == "__main__":
    main()
