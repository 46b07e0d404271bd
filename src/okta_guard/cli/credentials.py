"""``okta-guard credentials``: add, list, show and remove named service credentials.

Credentials are stored by :class:`okta_guard.call.credential_store.CredentialStore` in the
user's config dir (``$OKTA_GUARD_CONFIG_DIR`` overrides it) with 0600 permissions.
"""

from __future__ import annotations

import argparse
from typing import Any

from okta_guard.cli._common import (
    AUTH_METHOD_CHOICES,
    add_issuer_arguments,
    read_secret,
    split_scopes,
)
from okta_guard.cli._output import dump_json, print_mapping, render_table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``credentials`` command and its sub-commands."""
    parser = subparsers.add_parser(
        "credentials",
        help="manage named service credentials (client id, secret, scopes)",
        description="Store named client-credentials settings for 'okta-guard token'.",
    )
    sub = parser.add_subparsers(dest="credentials_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _usage(parser))

    add = sub.add_parser(
        "add",
        help="store a credential",
        description=(
            "Store a credential. The secret is read from a prompt (default), from "
            "standard input (--secret-stdin), or kept as an env:VAR reference resolved "
            "when the credential is used."
        ),
    )
    add.add_argument("name", help="a name for this credential, e.g. orders-service")
    add_issuer_arguments(add)
    add.add_argument("--client-id", required=True, help="the API Services app's client id")
    add.add_argument(
        "--scope",
        action="append",
        default=None,
        metavar="SCOPE",
        help="custom scope to request (required; repeat, or space-separate), e.g. orders:read",
    )
    add.add_argument(
        "--auth-method",
        choices=AUTH_METHOD_CHOICES,
        default=None,
        help="how the client authenticates to Okta (default: client_secret_basic, or "
        "private_key_jwt with --private-key-file); must match the app's 'Client authentication'",
    )
    secret = add.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-stdin", action="store_true", help="read the secret from standard input"
    )
    secret.add_argument("--secret", metavar="env:VAR", help="store a reference to an env var")
    secret.add_argument(
        "--private-key-file", metavar="PATH", help="private key (PEM/JWK) for private_key_jwt"
    )
    add.add_argument(
        "--key-id", metavar="KID", help="kid of the private key, as registered on the app"
    )
    add.add_argument("--replace", action="store_true", help="overwrite an existing credential")
    add.set_defaults(func=_add)

    lst = sub.add_parser("list", help="list stored credentials")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=_list)

    show = sub.add_parser("show", help="show one credential (secret masked)")
    show.add_argument("name", metavar="NAME", help="the credential's name (see 'list')")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_show)

    remove = sub.add_parser("remove", help="delete a stored credential")
    remove.add_argument("name", metavar="NAME", help="the credential's name (see 'list')")
    remove.set_defaults(func=_remove)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from okta_guard.call.config import check_client_id, normalize_scopes
    from okta_guard.call.credential_store import Credential, CredentialStore
    from okta_guard.cli._common import issuer_from_args
    from okta_guard.errors import ConfigurationError

    store = CredentialStore()
    store.check_name(args.name)
    issuer = issuer_from_args(args)
    scopes = split_scopes(args.scope)
    if not scopes:
        raise ConfigurationError(
            "credentials add needs the scopes to request: add --scope SCOPE (a custom scope "
            "of the authorization server, e.g. --scope orders:read; repeat for more)."
        )
    normalize_scopes(scopes)
    check_client_id(args.client_id)
    method = args.auth_method or (
        "private_key_jwt" if args.private_key_file else "client_secret_basic"
    )
    key_file: str | None = None
    secret: str | None = None
    if method == "private_key_jwt":
        if not args.private_key_file:
            raise ConfigurationError("--auth-method private_key_jwt needs --private-key-file PATH.")
        path = Path(args.private_key_file).expanduser().resolve()
        if not path.is_file():
            raise ConfigurationError(f"Private key file {str(path)!r} does not exist.")
        key_file = str(path)
    else:
        if args.private_key_file:
            raise ConfigurationError(
                f"--private-key-file is only used with --auth-method private_key_jwt, not {method}."
            )
        secret = read_secret(
            secret_ref=args.secret,
            from_stdin=args.secret_stdin,
            prompt=f"Client secret for {args.client_id}: ",
            keep_reference=True,
        )
    credential = Credential(
        name=args.name,
        issuer=issuer,
        client_id=args.client_id,
        scopes=scopes,
        auth_method=method,
        secret=secret,
        private_key_file=key_file,
        key_id=args.key_id,
    )
    store.add(credential, replace=args.replace)
    print(f"Saved credential {args.name!r} to {store.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from okta_guard.call.credential_store import CredentialStore, mask_secret

    creds = CredentialStore().list()
    if args.json:
        print(dump_json([_public(c) for c in creds]))
        return 0
    if not creds:
        print("No credentials stored. Add one with 'okta-guard credentials add NAME ...'.")
        return 0
    rows = [
        [c.name, c.issuer, c.client_id, " ".join(c.scopes), c.auth_method, mask_secret(c.secret)]
        for c in creds
    ]
    print(render_table(["name", "issuer", "client_id", "scopes", "auth_method", "secret"], rows))
    return 0


def _public(credential: Any) -> dict[str, Any]:
    from okta_guard.call.credential_store import mask_secret

    data: dict[str, Any] = {"name": credential.name, **credential.to_json()}
    if "secret" in data:
        data["secret"] = mask_secret(credential.secret)
    return data


def _show(args: argparse.Namespace) -> int:
    from okta_guard.call.credential_store import CredentialStore

    credential = CredentialStore().get(args.name)
    data = _public(credential)
    if args.json:
        print(dump_json(data))
        return 0
    items = {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in data.items()}
    print(print_mapping(items))
    return 0


def _remove(args: argparse.Namespace) -> int:
    from okta_guard.call.credential_store import CredentialStore

    store = CredentialStore()
    store.remove(args.name)
    print(f"Removed credential {args.name!r} from {store.path}")
    return 0
