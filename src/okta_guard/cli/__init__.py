"""The ``okta-guard`` command line: a thin argparse dispatcher.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code).  Modules are found
automatically; they must import only the standard library at module level so
that ``okta-guard --help`` stays fast, and import the rest inside ``func``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``okta-guard`` argument parser from the command modules."""
    parser = argparse.ArgumentParser(
        prog="okta-guard",
        description=(
            "Okta access tokens for APIs and service apps: get service tokens, verify and "
            "decode access tokens, audit routes, diagnose a configuration step by step "
            "(doctor), and run a local mock Okta issuer."
        ),
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print okta-guard's log on stderr: -v warnings and info, -vv also debug "
        "(why each token was refused)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"okta-guard {version('okta-guard')}")
        return 0
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    from okta_guard.errors import OktaGuardError

    with _library_log(args.verbose):
        try:
            code: int = func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except OktaGuardError as exc:
            print(f"okta-guard: error: {exc.description}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # `okta-guard token --json | head -1`: the reader left
            _silence_stdout()
            return 141  # 128 + SIGPIPE, as a shell reports a command killed by it
        except Exception as exc:
            if args.verbose > 1:
                raise
            print(
                f"okta-guard: error: unexpected {type(exc).__name__}: {exc} "
                "(run with -vv for the traceback, and please report it)",
                file=sys.stderr,
            )
            return 1
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the exit-time flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to do
        pass


@contextlib.contextmanager
def _library_log(verbose: int) -> Iterator[None]:
    """Show okta-guard's log records on stderr with ``-v``; hide them otherwise.

    The commands report failures themselves (one line), so the library's own
    warnings would only repeat them.  The logger's state is restored afterwards.
    """
    import logging

    logger = logging.getLogger("okta_guard")
    saved = (logger.level, logger.propagate)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("okta-guard: %(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    else:
        handler = logging.NullHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
