"""Argument helpers shared by the ``credentials``, ``token``, ``verify`` and ``decode`` commands.

Stdlib only at import time.  Secrets are never taken literally from the command
line (they would land in shell history and ``ps``): they come from a prompt,
standard input, or an ``env:VAR`` reference.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence

from okta_guard._grammar import AUTH_METHODS, ENV_REFERENCE

__all__ = [
    "AUTH_METHOD_CHOICES",
    "add_issuer_arguments",
    "issuer_from_args",
    "read_secret",
    "read_token_argument",
    "split_scopes",
]

AUTH_METHOD_CHOICES = AUTH_METHODS
_ENV_REF = ENV_REFERENCE


def add_issuer_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--issuer`` / ``--domain`` / ``--auth-server``."""
    parser.add_argument(
        "--issuer", help="custom authorization server URL, https://{domain}/oauth2/{id}"
    )
    parser.add_argument("--domain", help="Okta domain ('Tenant ID'), e.g. dev-123456.okta.com")
    parser.add_argument(
        "--auth-server",
        default=None,
        metavar="ID",
        help="authorization server id used with --domain (default: 'default')",
    )


def issuer_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> str:
    """The issuer from ``--issuer``, ``--domain`` [+ ``--auth-server``], or ``OKTA_*`` env."""
    from okta_guard.errors import ConfigurationError
    from okta_guard.settings import issuer_from_domain, issuer_from_env, validate_issuer

    if args.issuer and args.domain:
        raise ConfigurationError("Give either --issuer or --domain, not both.")
    if args.issuer:
        return validate_issuer(args.issuer)
    if args.domain:
        return issuer_from_domain(args.domain, args.auth_server or "default")
    env = os.environ if env is None else env
    try:
        return issuer_from_env(env)
    except ConfigurationError:
        raise ConfigurationError(
            "No issuer: pass --issuer URL or --domain DOMAIN [--auth-server ID], or set "
            "OKTA_ISSUER (or OKTA_DOMAIN)."
        ) from None


def split_scopes(values: Sequence[str] | None) -> list[str]:
    """Flatten repeated ``--scope`` values, each possibly space- or comma-separated."""
    result: list[str] = []
    for value in values or ():
        for scope in re.split(r"[\s,]+", value):
            if scope and scope not in result:
                result.append(scope)
    return result


def read_secret(
    *, secret_ref: str | None, from_stdin: bool, prompt: str | None, keep_reference: bool
) -> str | None:
    """Get a client secret from ``env:VAR``, standard input or an interactive prompt.

    With ``keep_reference`` an ``env:VAR`` reference is returned as is (to be
    resolved at use time); otherwise the variable's value is returned.  ``prompt``
    ``None`` means: no prompt, answer ``None`` when no other source is given.
    """
    from okta_guard.errors import ConfigurationError

    if secret_ref is not None:
        if not _ENV_REF.fullmatch(secret_ref):
            raise ConfigurationError(
                "--secret only takes an env:VAR reference (a secret on the command line leaks "
                "into shell history); use --secret-stdin or the prompt for the value itself."
            )
        if keep_reference:
            return secret_ref
        from okta_guard.call.credential_store import resolve_secret

        return resolve_secret(secret_ref)
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigurationError("--secret-stdin: standard input held no secret.")
        return line
    if prompt is None:
        return None
    if not sys.stdin.isatty():
        raise ConfigurationError(
            "No client secret given and standard input is not a terminal; "
            "use --secret-stdin or --secret env:VAR."
        )
    import getpass

    try:
        value = getpass.getpass(prompt)
    except EOFError:  # Ctrl-D at the prompt
        print(file=sys.stderr)
        raise ConfigurationError("No client secret entered (end of input).") from None
    if not value:
        raise ConfigurationError("No client secret entered.")
    return value


def read_token_argument(value: str) -> str:
    """The TOKEN argument: ``-`` reads standard input; a ``Bearer `` prefix is dropped."""
    from okta_guard.errors import InvalidRequestError

    token = sys.stdin.read() if value == "-" else value
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise InvalidRequestError("No token given (pass it as an argument, or '-' for stdin).")
    return token
