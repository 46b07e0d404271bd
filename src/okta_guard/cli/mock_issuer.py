"""``okta-guard mock-issuer``: serve the mock Okta issuer on a local port until Ctrl-C.

Lets programs in any language test against a faithful local Okta custom
authorization server.  The first line on standard output is the issuer URL
(handy with ``--port 0``); the secrets given with ``--client`` are test values.
``--tls`` serves https with a throw-away CA (printed on stderr) for clients that
refuse plain http.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any
from urllib.parse import unquote

__all__ = ["parse_client", "register"]

_CLIENT_SYNTAX = "ID:SECRET:SCOPE[,SCOPE...] (write ':' in the id or secret as %3A, '%' as %25)"


def _decode(part: str, what: str, spec_id: str) -> str:
    if "%" in part:
        import re

        if re.search(r"%(?![0-9A-Fa-f]{2})", part):
            raise argparse.ArgumentTypeError(
                f"--client {spec_id!r}...: the {what} has a '%' that is not followed by two hex "
                "digits; write '%' as %25 and ':' as %3A."
            )
        try:
            return unquote(part, errors="strict")
        except UnicodeDecodeError:
            raise argparse.ArgumentTypeError(
                f"--client {spec_id!r}...: the {what}'s %-escapes are not UTF-8."
            ) from None
    return part


def parse_client(spec: str) -> tuple[str, str, list[str]]:
    """Split ``ID:SECRET:SCOPE[,SCOPE...]``.

    The id and the secret end at the first and second ``:``; everything after is
    the scope list (scopes such as ``orders:read`` contain colons).  A colon in
    the id or the secret is written ``%3A`` (and ``%`` as ``%25``).  Each error
    names the part that is wrong and never echoes the secret.
    """
    client_id, sep, rest = spec.partition(":")
    shown = client_id[:40]
    if not client_id:
        raise argparse.ArgumentTypeError(
            f"--client: the client id (before the first ':') is empty; expected {_CLIENT_SYNTAX}"
        )
    if not sep:
        raise argparse.ArgumentTypeError(
            f"--client {shown!r}: no secret; expected {_CLIENT_SYNTAX}"
        )
    secret, sep, scopes_text = rest.partition(":")
    if not secret:
        raise argparse.ArgumentTypeError(
            f"--client {shown!r}:...: the secret (between the first and the second ':') is "
            f"empty; expected {_CLIENT_SYNTAX}"
        )
    scopes = [s for s in scopes_text.replace(" ", ",").split(",") if s]
    if not scopes:
        raise argparse.ArgumentTypeError(
            f"--client {shown!r}:...: no scopes after the secret (the mock would refuse every "
            "token request of a client without scopes); add ':orders:read,orders:write'. "
            f"Expected {_CLIENT_SYNTAX}"
        )
    bad = [s for s in scopes if not s.isprintable() or '"' in s or "\\" in s]
    if bad:
        raise argparse.ArgumentTypeError(
            f"--client {shown!r}:...: the scope {bad[0]!r} holds characters a scope cannot have."
        )
    return (
        _decode(client_id, "client id", shown),
        _decode(secret, "secret", shown),
        scopes,
    )


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port {value!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"--port {port} is out of range: use 0..65535 (0 picks a free port)"
        )
    return port


def _positive(name: str) -> Any:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {value!r} is not a whole number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, not {number}")
        return number

    return check


def _origin(value: str) -> str:
    """An ``--cors-origin`` value, checked and normalised (``https://host[:port]``)."""
    from okta_guard.testing.cors import normalize_origin

    try:
        return normalize_origin(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add the ``mock-issuer`` sub-command."""
    parser = subparsers.add_parser(
        "mock-issuer",
        help="run a local mock Okta custom authorization server",
        description=(
            "Serve a mock Okta custom authorization server (discovery, /v1/keys, /v1/token, "
            "/v1/introspect, /v1/revoke) on a local port until interrupted. The first line "
            "printed is the issuer URL."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; anything else is reachable from other "
        "machines, with a warning)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8080,
        help="port to bind, 0..65535; 0 picks a free one (default 8080)",
    )
    parser.add_argument(
        "--client",
        action="append",
        type=parse_client,
        default=[],
        metavar="ID:SECRET:SCOPES",
        help="register a client, e.g. svc:secret:orders:read,orders:write (repeatable; "
        "write ':' in the id or secret as %%3A and '%%' as %%25)",
    )
    parser.add_argument(
        "--dpop-client",
        action="append",
        type=parse_client,
        default=[],
        metavar="ID:SECRET:SCOPES",
        help="register a client whose tokens must be DPoP-bound (Okta's 'Require DPoP' "
        "setting): token requests need proofs, with Okta's nonce dance (repeatable)",
    )
    parser.add_argument(
        "--auth-server",
        action="append",
        default=None,
        metavar="ID",
        help="authorization server id (default 'default'; repeat for several servers)",
    )
    parser.add_argument(
        "--audience",
        default=None,
        help="audience of the first server (default api://{ID}, i.e. api://default)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=_positive("--token-lifetime"),
        default=3600,
        metavar="SECONDS",
        help="access token lifetime in seconds (default 3600, like Okta)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_positive("--rate-limit"),
        default=None,
        metavar="N",
        help="requests per minute per endpoint and server, like Okta's buckets (default: no limit)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        type=_origin,
        default=None,
        metavar="ORIGIN",
        help="a Trusted Origin browsers may call from, e.g. http://localhost:8000 (repeatable; "
        "default: every loopback origin)",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a throw-away CA and certificate (needs trustme); the CA file's "
        "path is printed on stderr",
    )
    tls.add_argument(
        "--tls-cert", default=None, metavar="PEM", help="certificate chain (PEM): serve https"
    )
    parser.add_argument(
        "--tls-key",
        default=None,
        metavar="PEM",
        help="private key (PEM) for --tls-cert (not needed when the cert file holds the key)",
    )
    parser.set_defaults(func=run)


def _ssl_context(args: argparse.Namespace) -> Any:
    from okta_guard.errors import ConfigurationError

    if args.tls_key and not args.tls_cert:
        raise ConfigurationError("--tls-key goes with --tls-cert (or use --tls).")
    if not args.tls_cert:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"TLS file {exc.filename!r} does not exist.") from None
    except (ssl.SSLError, OSError) as exc:
        hint = (
            " The certificate file holds no private key: pass it with --tls-key."
            if not args.tls_key
            else " Check that --tls-key is the private key of --tls-cert."
        )
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigurationError(
            f"Cannot load the TLS certificate {args.tls_cert!r} ({reason}).{hint}"
        ) from None
    return context


def _warn_if_public(host: str) -> None:
    from okta_guard.settings import is_loopback_host

    if not is_loopback_host(host):
        print(
            f"# warning: --host {host} listens beyond loopback: other machines can reach this "
            "mock and get tokens with its test secrets",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Start the server, print the issuer URL, and wait for Ctrl-C or SIGTERM."""
    from okta_guard.errors import ConfigurationError
    from okta_guard.testing import MockIssuer

    servers: list[str] = args.auth_server or ["default"]
    audience = args.audience or f"api://{servers[0]}"
    context = _ssl_context(args)
    try:
        okta = MockIssuer(
            auth_server=servers[0],
            audience=audience,
            host=args.host,
            port=args.port,
            ssl_context=context,
            tls=args.tls,
            token_lifetime=args.token_lifetime,
            rate_limit=args.rate_limit,
            cors_origins=args.cors_origin,
        )
    except RuntimeError as exc:  # --tls without trustme
        raise ConfigurationError(f"{exc} (pip install 'okta-guard[testing]' brings it).") from None
    try:
        for extra in servers[1:]:
            okta.add_auth_server(extra)
        for client_id, secret, scopes in args.client:
            okta.register_client(client_id, secret, scopes=scopes)
        for client_id, secret, scopes in args.dpop_client:
            okta.register_client(client_id, secret, scopes=scopes, dpop=True)
        try:
            okta.start()
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            print(
                f"okta-guard: error: cannot listen on {args.host}:{args.port}: {reason}",
                file=sys.stderr,
            )
            return 1
        _warn_if_public(args.host)
        print(okta.issuer, flush=True)
        for extra in servers[1:]:
            print(okta.issuer_for(extra), flush=True)
        if okta.ca_file:
            print(
                f"# CA certificate: {okta.ca_file} (trust it, e.g. SSL_CERT_FILE={okta.ca_file}"
                " or httpx verify=...; deleted when the mock stops)",
                file=sys.stderr,
            )
        for client_id, _secret, scopes in args.client:
            print(f"# client {client_id}: scopes {' '.join(scopes)}", file=sys.stderr)
        for client_id, _secret, scopes in args.dpop_client:
            print(
                f"# client {client_id}: scopes {' '.join(scopes)}; DPoP required",
                file=sys.stderr,
            )
        origins = " ".join(args.cors_origin or []) or "every loopback origin"
        print(f"# CORS (Trusted Origins): {origins}", file=sys.stderr)
        print("# serving; press Ctrl-C to stop", file=sys.stderr, flush=True)
        _wait_for_stop()
    finally:
        okta.close()
    return 0


def _wait_for_stop() -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
