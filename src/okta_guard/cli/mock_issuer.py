"""``okta-guard mock-issuer``: serve the mock Okta issuer on a local port until Ctrl-C.

Lets programs in any language test against a faithful local Okta custom
authorization server.  The first line on standard output is the issuer URL
(handy with ``--port 0``); the secrets given with ``--client`` are test values.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

__all__ = ["parse_client", "register"]


def parse_client(spec: str) -> tuple[str, str, list[str]]:
    """Split ``ID:SECRET[:SCOPE,SCOPE...]`` (scopes may contain colons)."""
    client_id, sep, rest = spec.partition(":")
    secret, _, scopes = rest.partition(":")
    if not client_id or not sep or not secret:
        raise argparse.ArgumentTypeError(
            f"--client {spec.split(':', 1)[0]!r}...: expected ID:SECRET[:SCOPE,SCOPE...]"
        )
    return client_id, secret, [s for s in scopes.replace(" ", ",").split(",") if s]


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
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind; 0 picks a free one (default 8080)"
    )
    parser.add_argument(
        "--client",
        action="append",
        type=parse_client,
        default=[],
        metavar="ID:SECRET:SCOPES",
        help="register a client, e.g. svc:secret:orders:read,orders:write (repeatable)",
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
        "--audience", default=None, help="audience of the first server (default api://{ID})"
    )
    parser.add_argument(
        "--token-lifetime", type=int, default=3600, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=None, metavar="N", help="per-minute limit per endpoint"
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
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve https")
    parser.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    parser.set_defaults(func=run)


def _ssl_context(args: argparse.Namespace) -> Any:
    if not args.tls_cert:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def run(args: argparse.Namespace) -> int:
    """Start the server, print the issuer URL, and wait for Ctrl-C or SIGTERM."""
    from okta_guard.testing import MockIssuer

    servers: list[str] = args.auth_server or ["default"]
    audience = args.audience or ("api://default" if servers[0] == "default" else None)
    okta = MockIssuer(
        auth_server=servers[0],
        audience=audience or f"api://{servers[0]}",
        host=args.host,
        port=args.port,
        ssl_context=_ssl_context(args),
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        cors_origins=args.cors_origin,
    )
    try:
        for extra in servers[1:]:
            okta.add_auth_server(extra)
        for client_id, secret, scopes in args.client:
            okta.register_client(client_id, secret, scopes=scopes)
        for client_id, secret, scopes in args.dpop_client:
            okta.register_client(client_id, secret, scopes=scopes, dpop=True)
        try:
            okta.start()
        except OSError as exc:
            print(
                f"okta-guard: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
                file=sys.stderr,
            )
            return 1
        print(okta.issuer, flush=True)
        for extra in servers[1:]:
            print(okta.issuer_for(extra), flush=True)
        for client_id, _secret, scopes in args.client:
            print(f"# client {client_id}: scopes {' '.join(scopes) or '(none)'}", file=sys.stderr)
        for client_id, _secret, scopes in args.dpop_client:
            print(
                f"# client {client_id}: scopes {' '.join(scopes) or '(none)'}; DPoP required",
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
