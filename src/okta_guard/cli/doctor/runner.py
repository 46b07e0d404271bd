"""The doctor's I/O: gather the configuration, fetch, and run the steps in order.

Each step's judgement lives in its own pure module; this one performs the GETs
(capped at 1 MiB), the token request and the verification, and decides which steps
can run after a failure.  :func:`diagnose` takes the environment, an
``httpx.Client`` and a clock so that tests drive it against the mock issuer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from okta_guard.cli.doctor.issuer_form import check_issuer_form
from okta_guard.cli.doctor.report import Step, exit_code, render_json, render_text, skipped
from okta_guard.cli.doctor.routes_step import check_routes
from okta_guard.cli.doctor.server import (
    Answer,
    check_clock,
    check_discovery,
    check_keys,
    check_metadata,
)
from okta_guard.cli.doctor.token_step import token_step
from okta_guard.cli.doctor.verify_step import unverified_claims, verify_step
from okta_guard.errors import ConfigurationError
from okta_guard.settings import issuer_from_domain

__all__ = ["MAX_BODY", "diagnose", "fetch", "run"]

MAX_BODY = 1 << 20
#: The request a DPoP proof is made for when the doctor verifies a DPoP-bound token.
_PROOF_URL = "https://api.example/okta-guard-doctor"


def fetch(client: httpx.Client, url: str) -> Answer:
    """GET ``url``; the body is read up to :data:`MAX_BODY` bytes, the whole answer within
    twice the client's read timeout (a server that drips its body is cut off)."""
    limit = 2 * (client.timeout.read or 10.0)
    deadline = time.monotonic() + limit
    try:
        with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    return Answer(url, error=f"the answer is larger than {MAX_BODY} bytes")
                if time.monotonic() > deadline:
                    return Answer(url, error=f"the answer took longer than {limit:g} s")
            return Answer(url, response.status_code, dict(response.headers), bytes(body))
    except httpx.TimeoutException:
        return Answer(url, error="timed out")
    except httpx.HTTPError as exc:
        return Answer(url, error=f"{type(exc).__name__}: {str(exc)[:200]}")


def _raw_issuer(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str | None, str]:
    if args.issuer:
        return args.issuer, "--issuer"
    if args.domain:
        return _from_domain(args.domain, args.auth_server or "default"), "--domain"
    if args.credential:
        from okta_guard.call.credential_store import CredentialStore

        return CredentialStore().get(args.credential).issuer, f"credential {args.credential!r}"
    if env.get("OKTA_ISSUER", "").strip():
        return env["OKTA_ISSUER"], "OKTA_ISSUER"
    domain = env.get("OKTA_DOMAIN", "").strip()
    if domain:
        server = env.get("OKTA_AUTH_SERVER_ID", "").strip() or "default"
        return _from_domain(domain, server), "OKTA_DOMAIN"
    return None, "nowhere"


def _from_domain(domain: str, server: str) -> str:
    """The issuer a domain names; when it is not usable, the raw URL for the form step."""
    try:
        return issuer_from_domain(domain, server)
    except ConfigurationError:
        domain = domain.strip().rstrip("/")
        prefix = "" if "://" in domain else "https://"
        return f"{prefix}{domain}/oauth2/{server}"


def _has_client(args: argparse.Namespace, env: Mapping[str, str]) -> bool:
    return bool(args.credential or args.client_id or env.get("OKTA_CLIENT_ID"))


_AFTER_ISSUER = ("discovery", "metadata", "keys", "clock", "token", "verify")


def diagnose(
    args: argparse.Namespace,
    *,
    env: Mapping[str, str],
    http_client: httpx.Client,
    clock: Callable[[], float] = time.time,
) -> tuple[str, list[Step]]:
    """Run every step that can run; return the target (the issuer) and the steps."""
    raw, source = _raw_issuer(args, env)
    form, issuer = check_issuer_form(raw, source)
    steps = [form]
    if issuer is None:
        steps += [skipped(name, "not run: the issuer is not usable") for name in _AFTER_ISSUER]
        steps += _routes(args, None)
        return raw or "(no issuer)", steps
    from okta_guard.verify.discovery import metadata_urls

    answer = fetch(http_client, metadata_urls(issuer)[0])
    probe = None
    if answer.status == 404 and not issuer.endswith("/oauth2/default"):
        probe = fetch(http_client, metadata_urls(issuer.rsplit("/", 1)[0] + "/default")[0])
    discovery, metadata = check_discovery(issuer, answer, default_probe=probe)
    steps.append(discovery)
    if metadata is None:
        steps.append(skipped("metadata", "not run: no metadata (see discovery)"))
        steps.append(skipped("keys", "not run: no metadata (see discovery)"))
        steps.append(_clock(args, clock, answer))
        steps += [skipped(n, "not run: the issuer does not answer") for n in ("token", "verify")]
        steps += _routes(args, None)
        return issuer, steps
    meta_step, jwks_uri = check_metadata(issuer, metadata)
    steps.append(meta_step)
    keys_answer = fetch(http_client, jwks_uri)
    steps.append(check_keys(keys_answer))
    steps.append(_clock(args, clock, answer, keys_answer))
    token_result, token, prove = _token(args, env, http_client)
    steps.append(token_result)
    granted: frozenset[str] | None = token.scopes if token is not None else None
    audience = (args.audience or env.get("OKTA_AUDIENCE", "")).strip()
    if token is None:
        steps.append(skipped("verify", "not run: no token (see token)"))
    elif not audience:
        found = unverified_claims(token.access_token).get("aud")
        steps.append(
            skipped(
                "verify",
                f"not run: no audience configured (the token's aud is {found!r}); pass "
                "--audience or set OKTA_AUDIENCE to check it like the API",
            )
        )
    else:
        from okta_guard.verify.verifier import TokenVerifier

        with TokenVerifier(
            issuer, audience, leeway=args.leeway, http_client=http_client, timeout=args.timeout
        ) as verifier:
            check: Callable[[str], Any] = verifier.verify
            if prove is not None:  # a DPoP-bound token: verify it with a proof, as an API would

                def check(value: str) -> Any:
                    proof = prove("GET", _PROOF_URL, access_token=value)
                    return verifier.verify_dpop(value, proof, method="GET", url=_PROOF_URL)

            verified, access = verify_step(
                check,
                token.access_token,
                issuer=issuer,
                audience=audience,
                bound=prove is not None,
            )
        steps.append(verified)
        if access is not None:
            granted = access.scopes
    steps += _routes(args, granted)
    return issuer, steps


def _clock(args: argparse.Namespace, clock: Callable[[], float], *answers: Answer) -> Step:
    date = next((a.header("date") for a in answers if a.status and a.header("date")), None)
    return check_clock(date, clock(), args.leeway)


def _token(
    args: argparse.Namespace, env: Mapping[str, str], http_client: httpx.Client
) -> tuple[Step, Any, Callable[..., str] | None]:
    """The token step, the token, and for a DPoP-bound token the client's proof maker."""
    if not _has_client(args, env):
        return (
            skipped(
                "token",
                "not run: no client (pass --credential NAME, or --client-id with --scope and "
                "a secret, or set OKTA_CLIENT_ID) to check token issuance",
            ),
            None,
            None,
        )
    from okta_guard.call.policy import RetrySettings
    from okta_guard.cli.token import build_client

    try:
        client = build_client(
            args, env, http_client=http_client, retry=RetrySettings(max_attempts=1)
        )
    except ConfigurationError as exc:
        step = Step("token", "fail", "the client is not configured completely", exc.description)
        return step, None, None
    with client:
        step, token = token_step(
            client.get_token,
            client_id=client.client_id,
            scopes=list(client.scopes),
            auth_method=client.auth_method,
        )
    bound = token is not None and token.token_type.lower() == "dpop"
    return step, token, client.dpop_proof if bound else None


def _routes(args: argparse.Namespace, granted: frozenset[str] | None) -> list[Step]:
    if not args.app:
        return []
    from okta_guard.cli.routes import load_app
    from okta_guard.protect.audit import audit_routes

    try:
        app = load_app(args.app, args.factory)
        infos = audit_routes(app, public_paths=args.public)
    except ConfigurationError as exc:
        return [Step("routes", "fail", f"cannot load {args.app}", exc.description)]
    except Exception as exc:  # an app factory may raise anything; report it, do not crash
        return [Step("routes", "fail", f"cannot load {args.app}: {type(exc).__name__}", str(exc))]
    return [check_routes(args.app, infos, granted)]


def run(args: argparse.Namespace) -> int:
    """``okta-guard doctor``: print the steps; 0 when none failed."""
    from okta_guard.cli._output import dump_json

    with httpx.Client(timeout=args.timeout) as client:
        target, steps = diagnose(args, env=os.environ, http_client=client)
    if args.json:
        print(dump_json(render_json(target, steps)))
    else:
        print(render_text(target, steps, width=shutil.get_terminal_size((100, 24)).columns))
    return exit_code(steps)
