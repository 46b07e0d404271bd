"""``okta-guard demo``: the client-credentials setup end to end, in a few seconds.

By default everything runs on loopback: the mock Okta issuer, a small protected
orders API (uvicorn, or in-process without it), two service apps.  ``--okta``
runs the same scenario against a real Okta tenant configured from environment
variables or stored credentials (see ``docs/demo.md``).  The scenario itself
lives in :mod:`okta_guard.demo.scenario`; this module only parses arguments.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]

_EPILOG = """\
--okta reads OKTA_ISSUER (or OKTA_DOMAIN + OKTA_AUTH_SERVER_ID), OKTA_AUDIENCE,
and OKTA_READER_CLIENT_ID/_SECRET, OKTA_WRITER_CLIENT_ID/_SECRET (or --reader
and --writer NAME: credentials stored with 'okta-guard credentials add').
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the end-to-end demo (mock Okta on loopback, or --okta)",
        description=(
            "Serve a protected orders API, get tokens for two service apps, call the API\n"
            "with good and bad tokens, rotate the issuer's keys, and show what happened.\n"
            "Without --okta everything runs on loopback against the mock Okta issuer."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--okta", action="store_true", help="use a real Okta tenant instead of the mock issuer"
    )
    parser.add_argument("--reader", metavar="NAME", help="stored credential of the reader app")
    parser.add_argument("--writer", metavar="NAME", help="stored credential of the writer app")
    parser.add_argument(
        "--read-scope",
        default="orders:read",
        metavar="SCOPE",
        help="scope GET /orders needs (default: orders:read)",
    )
    parser.add_argument(
        "--write-scope",
        default="orders:write",
        metavar="SCOPE",
        help="scope POST /orders needs (default: orders:write)",
    )
    fleet = parser.add_argument_group("fleet (worker processes sharing one token through Redis)")
    fleet.add_argument(
        "--fleet",
        action="store_true",
        help="run worker processes with and without a shared RedisStore, side by side",
    )
    fleet.add_argument("--workers", type=int, default=4, metavar="N", help="processes (4)")
    fleet.add_argument("--threads", type=int, default=25, metavar="N", help="threads each (25)")
    fleet.add_argument(
        "--redis", metavar="URL", help="use this Redis/Valkey (default: a throw-away redis-server)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the API in-process (httpx, no socket) even when uvicorn is installed",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every call was answered as expected."""
    import sys

    from okta_guard.errors import ConfigurationError

    if args.fleet:
        if args.okta:
            raise ConfigurationError("--fleet runs on the mock issuer; leave out --okta.")
        if not (1 <= args.workers <= 64 and 1 <= args.threads <= 500):
            raise ConfigurationError("--workers takes 1 to 64, --threads 1 to 500.")
        from okta_guard.demo.fleet import run_fleet_demo

        return run_fleet_demo(
            sys.stdout, workers=args.workers, threads=args.threads, redis_url=args.redis
        )
    use_uvicorn = False if args.in_process else None
    if not args.okta:
        if args.reader or args.writer:
            raise ConfigurationError("--reader and --writer go with --okta.")
        from okta_guard.demo.mock import run_mock_demo

        return run_mock_demo(
            sys.stdout,
            read_scope=args.read_scope,
            write_scope=args.write_scope,
            use_uvicorn=use_uvicorn,
        )
    from okta_guard.demo.okta import okta_settings, run_okta_demo

    settings = okta_settings(
        reader=args.reader,
        writer=args.writer,
        read_scope=args.read_scope,
        write_scope=args.write_scope,
    )
    return run_okta_demo(settings, sys.stdout, use_uvicorn=use_uvicorn)
