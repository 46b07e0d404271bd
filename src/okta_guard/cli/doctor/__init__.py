"""``okta-guard doctor``: walk the chain from configuration to a verified token.

One line per step, with a verdict and, on failure, the fix: the issuer's form,
discovery, the metadata's ``issuer``, the key set, clock skew, a token for the
credential, that token verified with the configured audience and issuer, and with
``--app`` every route's scopes against the scopes the credential was granted.
Exit 0 only when no step failed.  The steps live in small modules of this package
(pure where they can be); :mod:`.runner` does the I/O.  Stdlib only at import.
"""

from __future__ import annotations

import argparse
from typing import Any

from okta_guard.cli._common import AUTH_METHOD_CHOICES, add_issuer_arguments
from okta_guard.cli._dpop import add_dpop_arguments

__all__ = ["register"]

_EPILOG = """\
The configuration comes from flags, a stored credential (--credential NAME) or the
OKTA_* environment (OKTA_ISSUER or OKTA_DOMAIN [+ OKTA_AUTH_SERVER_ID], OKTA_AUDIENCE,
OKTA_CLIENT_ID, OKTA_CLIENT_SECRET, OKTA_SCOPES, OKTA_AUTH_METHOD). Without a client
id the token and verify steps are skipped; without --app the routes step is.
Exit status: 0 when no step failed, 1 otherwise.
"""


def register(subparsers: Any) -> None:
    """Add the ``doctor`` command."""
    parser = subparsers.add_parser(
        "doctor",
        help="diagnose an Okta configuration step by step (issuer, keys, clock, token, routes)",
        description=(
            "Check an Okta configuration the way a failing request would meet it: issuer\n"
            "form, discovery, metadata issuer, key set, clock skew, a service token, that\n"
            "token verified with the configured audience, and with --app every route's\n"
            "scopes. One line per step; the fix under each failure."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--credential", "-c", metavar="NAME", help="a credential stored with 'credentials add'"
    )
    add_issuer_arguments(parser)
    parser.add_argument(
        "--audience",
        metavar="AUDIENCE",
        help="the audience the API expects, e.g. api://default (default: OKTA_AUDIENCE)",
    )
    parser.add_argument(
        "--client-id", metavar="CLIENT_ID", help="client id (default: OKTA_CLIENT_ID)"
    )
    parser.add_argument(
        "--scope",
        action="append",
        default=None,
        metavar="SCOPE",
        help="scope to request (repeat, or space-separate; default: OKTA_SCOPES)",
    )
    parser.add_argument(
        "--auth-method",
        choices=AUTH_METHOD_CHOICES,
        default=None,
        help="how the client authenticates (default: client_secret_basic, or "
        "private_key_jwt with --private-key-file)",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-stdin", action="store_true", help="read the client secret from standard input"
    )
    secret.add_argument(
        "--secret", metavar="env:VAR", help="read the client secret from an environment variable"
    )
    parser.add_argument(
        "--private-key-file", metavar="PATH", help="private key (PEM/JWK) for private_key_jwt"
    )
    parser.add_argument("--key-id", metavar="KID", help="kid of the private key")
    add_dpop_arguments(parser)
    parser.add_argument(
        "--leeway",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the API's clock skew allowance (default: 60)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="per-request timeout (default: 10)",
    )
    parser.add_argument(
        "--app",
        metavar="MODULE:APP",
        help="also check every route of this Starlette/FastAPI app against the granted scopes",
    )
    parser.add_argument(
        "--factory", action="store_true", help="with --app: APP is a callable returning the app"
    )
    parser.add_argument(
        "--public",
        action="append",
        default=[],
        metavar="PATTERN",
        help="with --app: a path that is public on purpose (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from okta_guard.cli.doctor.runner import run

    return run(args)
