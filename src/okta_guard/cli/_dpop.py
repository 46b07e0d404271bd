"""DPoP flags of the ``token`` and ``request`` commands, and the note on DPoP-bound tokens.

Imports only the standard library at module level (``okta-guard --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okta_guard.call.client import TokenClient
    from okta_guard.models import ServiceToken

__all__ = ["add_dpop_arguments", "dpop_kwargs", "explain_dpop_token"]

_MODES = {"auto": None, "always": True, "never": False}


def add_dpop_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dpop auto|always|never`` and ``--dpop-key-file PATH``."""
    parser.add_argument(
        "--dpop",
        choices=tuple(_MODES),
        default="auto",
        help="DPoP proofs at the token endpoint: auto (when Okta demands them, the default), "
        "always or never",
    )
    parser.add_argument(
        "--dpop-key-file",
        metavar="PATH",
        help="the DPoP proof key (PEM or JWK; EC P-256/384/521 or RSA >= 2048); default a "
        "fresh EC P-256 key for this run",
    )


def dpop_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``TokenClient`` keyword arguments the DPoP flags ask for."""
    mode = getattr(args, "dpop", "auto") or "auto"
    kwargs: dict[str, Any] = {"dpop": _MODES[mode]}
    path = getattr(args, "dpop_key_file", None)
    if path:
        from okta_guard.call.config import read_key_file

        kwargs["dpop_key"] = read_key_file(path)
    return kwargs


def explain_dpop_token(client: TokenClient, token: ServiceToken) -> None:
    """Tell the person (on standard error) that a DPoP-bound token is useless without proofs."""
    if token.token_type != "DPoP":
        return
    key = client.dpop_key
    where = (
        "the key in --dpop-key-file"
        if key is not None and client.dpop_session.explicit_key
        else "a key that lived only in this process"
    )
    print(
        f"# token_type DPoP: this token is bound to {where} (jkt "
        f"{key.thumbprint if key else '?'}). APIs refuse it as a Bearer token; every request "
        "needs 'Authorization: DPoP <token>' and a fresh DPoP proof signed by that key. "
        "Use 'okta-guard request' to call an API with it.",
        file=sys.stderr,
    )
