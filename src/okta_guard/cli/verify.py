"""``okta-guard verify`` and ``okta-guard decode``: check or just look inside an access token.

``verify`` runs the full :class:`~okta_guard.TokenVerifier` (signature against the
issuer's keys, issuer, audience, expiry ...) and exits 0 for a valid token, 1
otherwise.  ``decode`` prints the header and claims *without verifying anything*
and says so loudly: it is for reading a token, never for trusting one.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import time
from typing import Any

from okta_guard.cli._common import add_issuer_arguments, read_token_argument
from okta_guard.cli._output import dump_json, format_time, print_mapping

__all__ = ["decode_unverified", "register"]

UNVERIFIED_BANNER = (
    "UNVERIFIED: decoded without checking the signature, issuer, audience or expiry. "
    "Do not trust these values; use 'okta-guard verify' for that."
)
_TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")
#: Deeper header/claims are refused by decode (and not shown by verify): printing them
#: would exhaust the recursion limit, and no real token nests like that.
MAX_DEPTH = 64


def register(subparsers: Any) -> None:
    """Add the ``verify`` and ``decode`` commands."""
    verify = subparsers.add_parser(
        "verify",
        help="verify an access token against the issuer (exit 0 valid, 1 invalid)",
        description="Verify an access token like an API would, and print the verdict and claims.",
    )
    verify.add_argument("token", metavar="TOKEN", help="the access token, or '-' for stdin")
    add_issuer_arguments(verify)
    verify.add_argument(
        "--audience", help="expected audience, e.g. api://default (default: OKTA_AUDIENCE)"
    )
    verify.add_argument(
        "--client-id",
        action="append",
        default=None,
        dest="client_ids",
        metavar="CLIENT_ID",
        help="accept only tokens of this client id (repeatable; default: any client)",
    )
    verify.add_argument(
        "--leeway",
        type=float,
        default=None,
        metavar="SECONDS",
        help="clock skew allowance in seconds (default: 60)",
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(func=_verify)

    decode = subparsers.add_parser(
        "decode",
        help="show a token's header and claims WITHOUT verifying it",
        description="Decode a JWT's header and claims without verifying anything.",
    )
    decode.add_argument("token", metavar="TOKEN", help="the token, or '-' for stdin")
    decode.add_argument("--json", action="store_true", help="machine-readable output")
    decode.set_defaults(func=_decode)


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    from okta_guard.errors import InvalidTokenError

    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidTokenError(f"The token's {what} is not base64url-encoded JSON.") from None
    except RecursionError:
        raise InvalidTokenError(f"The token's {what} is nested too deeply to show.") from None
    if not isinstance(value, dict):
        raise InvalidTokenError(f"The token's {what} is not a JSON object.")
    if _too_deep(value, MAX_DEPTH):
        raise InvalidTokenError(
            f"The token's {what} is nested more than {MAX_DEPTH} levels deep; not shown."
        )
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/objects deeper than ``limit`` (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a compact JWS and return ``(header, claims)`` - nothing is verified."""
    from okta_guard.errors import InvalidTokenError

    parts = token.split(".")
    if len(parts) == 5:
        raise InvalidTokenError("This is an encrypted token (JWE); its claims cannot be read.")
    if len(parts) != 3:
        raise InvalidTokenError("This is not a JWT (expected three dot-separated parts).")
    return _b64_json(parts[0], "header"), _b64_json(parts[1], "payload")


def _time_lines(claims: dict[str, Any], now: float) -> dict[str, str]:
    return {name: format_time(claims[name], now) for name in _TIME_CLAIMS if name in claims}


def _decode(args: argparse.Namespace) -> int:
    token = read_token_argument(args.token)
    header, claims = decode_unverified(token)
    if args.json:
        print(dump_json({"verified": False, "header": header, "claims": claims}))
        return 0
    print(UNVERIFIED_BANNER)
    print("\nheader (unverified):")
    print(dump_json(header))
    print("\nclaims (unverified):")
    print(dump_json(claims))
    times = _time_lines(claims, time.time())
    if times:
        print("\ntimes (unverified):")
        print(print_mapping(times))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from okta_guard.cli._common import issuer_from_args
    from okta_guard.errors import ConfigurationError, InvalidTokenError, OktaGuardError
    from okta_guard.verify.multi import MultiIssuerVerifier
    from okta_guard.verify.verifier import TokenVerifier

    token = read_token_argument(args.token)
    kwargs: dict[str, Any] = {}
    if args.client_ids:
        kwargs["client_ids"] = args.client_ids
    if args.leeway is not None:
        kwargs["leeway"] = args.leeway
    verifier: TokenVerifier | MultiIssuerVerifier
    if not (args.issuer or args.domain) and os.environ.get("OKTA_ISSUERS", "").strip():
        # Several authorization servers (OKTA_ISSUERS with OKTA_AUDIENCES), as the API sees them.
        env = dict(os.environ)
        if args.audience:
            env.pop("OKTA_AUDIENCES", None)
            env["OKTA_AUDIENCE"] = args.audience
        verifier = MultiIssuerVerifier.from_env(env, **kwargs)
    else:
        issuer = issuer_from_args(args)
        audience = args.audience or os.environ.get("OKTA_AUDIENCE", "").strip()
        if not audience:
            raise ConfigurationError(
                "No audience: pass --audience (e.g. api://default, as set on the authorization "
                "server) or set OKTA_AUDIENCE."
            )
        verifier = TokenVerifier(issuer, audience, **kwargs)
    try:
        access = verifier.verify(token)
    except InvalidTokenError as exc:
        return _verdict_invalid(args, exc, token)
    except OktaGuardError as exc:
        diagnosis = getattr(exc, "diagnosis", None)  # IssuerUnavailableError's, if any
        if diagnosis:  # the issuer's answer shows a configuration error: say which
            raise ConfigurationError(f"{exc.description} Cause: {diagnosis}.") from None
        raise
    finally:
        close = getattr(verifier, "close", None)
        if callable(close):
            close()
    claims = dict(access.claims)
    if args.json:
        print(dump_json({"valid": True, "claims": claims}))
        return 0
    print("VALID: signature, issuer, audience and expiry checked.")
    summary = {
        "issuer": access.issuer,
        "audience": " ".join(access.audience),
        "client_id": access.client_id or "-",
        "subject": access.subject or "-",
        "scopes": " ".join(sorted(access.scopes)) or "-",
        "expires": format_time(access.expires_at.timestamp(), time.time()),
    }
    print(print_mapping(summary))
    print("\nclaims:")
    print(dump_json(claims))
    return 0


def _verdict_invalid(args: argparse.Namespace, exc: Any, token: str) -> int:
    from okta_guard.errors import InvalidTokenError

    try:  # shown to explain the verdict (which aud? expired when?), clearly unverified
        claims: dict[str, Any] | None = decode_unverified(token)[1]
    except InvalidTokenError:
        claims = None
    if args.json:
        data = {"valid": False, "error": exc.error, "reason": exc.reason}
        data.update({"description": exc.description, "claims_unverified": claims})
        print(dump_json(data))
        return 1
    print(f"INVALID: {exc.description} (reason: {exc.reason})")
    if claims is not None:
        print("\nclaims (unverified, for diagnosis only):")
        print(dump_json(claims))
        times = _time_lines(claims, time.time())
        if times:
            print(print_mapping(times))
    return 1
