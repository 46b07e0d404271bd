"""``okta-guard token``: get a client-credentials service token and print it.

From a stored credential (``--credential NAME``) or from flags and ``OKTA_*``
environment variables.  Prints the token table by default (the token abbreviated
so that the table fits the terminal), ``--json`` for machine output, ``--raw``
for just the token::

    curl -H "Authorization: Bearer $(okta-guard token --credential orders --raw)" ...
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from okta_guard.cli._common import (
    AUTH_METHOD_CHOICES,
    add_issuer_arguments,
    read_secret,
    split_scopes,
)
from okta_guard.cli._dpop import add_dpop_arguments, dpop_kwargs, explain_dpop_token

if TYPE_CHECKING:
    from okta_guard.call.client import TokenClient

__all__ = ["add_client_arguments", "build_client", "register"]


def register(subparsers: Any) -> None:
    """Add the ``token`` command."""
    parser = subparsers.add_parser(
        "token",
        help="get a service token (client credentials) and print it",
        description=(
            "Get a client-credentials service token from Okta for a stored credential "
            "(--credential) or for flags / OKTA_* environment variables (OKTA_ISSUER or "
            "OKTA_DOMAIN, OKTA_CLIENT_ID, OKTA_CLIENT_SECRET, OKTA_SCOPES)."
        ),
    )
    add_client_arguments(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--raw", action="store_true", help="print only the access token")
    out.add_argument(
        "--short",
        action="store_true",
        help="abbreviate the token in the table (the default; kept for scripts)",
    )
    parser.set_defaults(func=_run)


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a client: credential, issuer, id, scopes, secret, key, DPoP."""
    parser.add_argument("--credential", "-c", metavar="NAME", help="a stored credential")
    add_issuer_arguments(parser)
    parser.add_argument(
        "--client-id", metavar="CLIENT_ID", help="client id (default: OKTA_CLIENT_ID)"
    )
    parser.add_argument(
        "--scope",
        action="append",
        default=None,
        metavar="SCOPE",
        help="scope to request (repeat, or space-separate; default: the credential's, or "
        "OKTA_SCOPES)",
    )
    parser.add_argument(
        "--auth-method",
        choices=AUTH_METHOD_CHOICES,
        default=None,
        help="how the client authenticates to Okta (default: client_secret_basic, or "
        "private_key_jwt with --private-key-file); must match the app's 'Client authentication'",
    )
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-stdin", action="store_true", help="read the secret from standard input"
    )
    secret.add_argument("--secret", metavar="env:VAR", help="read the secret from an env var")
    parser.add_argument(
        "--private-key-file", metavar="PATH", help="private key (PEM/JWK) for private_key_jwt"
    )
    parser.add_argument("--key-id", metavar="KID", help="kid of the private key")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="per-request timeout in seconds (default 10)",
    )
    add_dpop_arguments(parser)


def build_client(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    **client_kwargs: Any,
) -> TokenClient:
    """Build the :class:`~okta_guard.TokenClient` the ``token`` arguments describe.

    Flags win over the stored credential, which wins over ``OKTA_*`` variables.
    ``client_kwargs`` go to the client (tests pass ``http_client=`` here).
    """
    from okta_guard.call.client import TokenClient
    from okta_guard.call.config import read_key_file
    from okta_guard.call.credential_store import CredentialStore
    from okta_guard.cli._common import issuer_from_args
    from okta_guard.errors import ConfigurationError
    from okta_guard.settings import env_list

    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {}
    if args.credential:
        kwargs = CredentialStore().get(args.credential).client_kwargs(env)
        override = bool(args.issuer or args.domain)
        issuer: str | None = issuer_from_args(args, env) if override else None
    else:
        issuer = issuer_from_args(args, env)
        if env.get("OKTA_CLIENT_SECRET"):
            kwargs["client_secret"] = env["OKTA_CLIENT_SECRET"]
        if env.get("OKTA_PRIVATE_KEY_FILE"):
            kwargs["private_key"] = read_key_file(env["OKTA_PRIVATE_KEY_FILE"])
        elif env.get("OKTA_PRIVATE_KEY"):
            kwargs["private_key"] = env["OKTA_PRIVATE_KEY"]
        kwargs["client_id"] = env.get("OKTA_CLIENT_ID") or None
        kwargs["scopes"] = list(env_list(env.get("OKTA_SCOPES")))
        if env.get("OKTA_AUTH_METHOD"):
            kwargs["auth_method"] = env["OKTA_AUTH_METHOD"]
    if issuer:
        kwargs["issuer"] = issuer
    if args.client_id:
        kwargs["client_id"] = args.client_id
    if args.scope:
        kwargs["scopes"] = split_scopes(args.scope)
    if args.auth_method:
        kwargs["auth_method"] = args.auth_method
    secret = read_secret(
        secret_ref=args.secret, from_stdin=args.secret_stdin, prompt=None, keep_reference=False
    )
    if secret is not None:
        kwargs["client_secret"] = secret
    if args.private_key_file:
        kwargs["private_key"] = read_key_file(args.private_key_file)
        if args.auth_method is None:  # a key on the command line means private_key_jwt
            kwargs.pop("client_secret", None)
            kwargs["auth_method"] = "private_key_jwt"
    if args.key_id:
        kwargs["key_id"] = args.key_id
    if not kwargs.get("client_id"):
        raise ConfigurationError("No client id: pass --client-id or set OKTA_CLIENT_ID.")
    if not kwargs.get("scopes") and args.credential:
        raise ConfigurationError(
            f"The stored credential {args.credential!r} has no scopes: pass --scope SCOPE, or "
            f"store them with 'okta-guard credentials add {args.credential} --replace ... "
            "--scope SCOPE'."
        )
    if not kwargs.get("scopes"):
        raise ConfigurationError(
            "No scopes: pass --scope (a custom scope such as orders:read) or set OKTA_SCOPES."
        )
    method = kwargs.get("auth_method", "client_secret_basic")
    if kwargs.get("private_key") is None and not kwargs.get("client_secret"):
        raise ConfigurationError(
            f"No client secret for {method}: use --secret-stdin, --secret env:VAR or "
            "OKTA_CLIENT_SECRET (or --private-key-file for private_key_jwt)."
        )
    client_kwargs.setdefault("timeout", args.timeout)
    kwargs.update(dpop_kwargs(args))
    kwargs.update(client_kwargs)
    issuer = kwargs.pop("issuer")
    client_id = kwargs.pop("client_id")
    return TokenClient(issuer, client_id, kwargs.pop("client_secret", None), **kwargs)


def _run(args: argparse.Namespace) -> int:
    import json
    import shutil
    import sys
    import time

    from okta_guard.cli._output import fit_token_table, token_json

    with build_client(args) as client:
        token = client.get_token()
        explain_dpop_token(client, token)
    now = time.time()
    if args.raw:
        print(token.access_token)
    elif args.json:
        print(json.dumps(token_json(token, now), indent=2))
    else:  # the table fits the terminal ($COLUMNS, else 80); the full token: --raw / --json
        width = shutil.get_terminal_size((80, 24)).columns
        print(fit_token_table([(None, token)], now=now, width=width)[0])
        if sys.stdout.isatty():
            print("(token abbreviated; --raw or --json print it in full)", file=sys.stderr)
    return 0
