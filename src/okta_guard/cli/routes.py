"""``okta-guard routes module:app``: list an app's routes and the scopes they require.

Exit status 1 when a route is unprotected (neither protected nor public on
purpose); ``--exit-zero`` always exits 0.  ``--public PATTERN`` marks paths as
public on purpose (same syntax as ``exclude_paths``).  Only the standard library
is imported at module level.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

__all__ = ["load_app", "register"]


def register(subparsers: Any) -> None:
    """Add the ``routes`` sub-command."""
    parser = subparsers.add_parser(
        "routes",
        help="list an app's routes with their required scopes; flag unprotected ones",
        description=(
            "Import MODULE:APP (a Starlette or FastAPI app, or a factory with --factory) and "
            "print every route, its methods and the scopes it requires. Exits 1 if any "
            "route is unprotected."
        ),
    )
    parser.add_argument("target", metavar="MODULE:APP", help="e.g. examples.starlette_app:app")
    parser.add_argument(
        "--factory", action="store_true", help="APP is a callable returning the app"
    )
    parser.add_argument(
        "--public",
        action="append",
        default=[],
        metavar="PATTERN",
        help="path pattern that is public on purpose (/health, /docs*, /static/); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even if unprotected routes exist"
    )
    parser.set_defaults(func=run)


def load_app(target: str, factory: bool = False) -> Any:
    """Import ``MODULE:APP`` (with ``factory``: call it) from the current directory."""
    from okta_guard.errors import ConfigurationError

    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"{target!r} is not MODULE:APP (e.g. myservice.main:app).")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    missing = object()
    try:
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(f"Cannot import {module_name!r}: {exc}.") from None
        for part in attr.split("."):
            obj = getattr(obj, part, missing)
            if obj is missing:
                break
        else:
            return obj() if factory else obj
    except ImportError as exc:
        raise ConfigurationError(str(exc)) from None
    except ConfigurationError as exc:  # e.g. the module builds its app from OKTA_* settings
        raise ConfigurationError(
            f"Building {target} needs its configuration, which is missing or wrong: "
            f"{exc.description}"
        ) from None
    raise ConfigurationError(f"{module_name!r} has no attribute {attr!r}.")


def run(args: argparse.Namespace) -> int:
    """Print the audit of the target app; 1 if unprotected routes exist."""
    from okta_guard.protect.audit import audit_routes, format_table

    app = load_app(args.target, args.factory)
    infos = audit_routes(app, public_paths=args.public)
    if args.json:
        print(json.dumps([info.as_dict() for info in infos], indent=2))
    else:
        print(format_table(infos))
    unprotected = [info for info in infos if info.unprotected]
    if unprotected and not args.json:
        print(
            f"\n{len(unprotected)} unprotected route(s): protect them with require_scopes, "
            "the middleware or the FastAPI dependency, or mark them public (--public).",
            file=sys.stderr,
        )
    return 1 if unprotected and not args.exit_zero else 0
