"""Step 8, pure: every route of ``--app`` against the scopes the credential was granted.

Uses okta-guard's route audit (:func:`okta_guard.protect.audit.audit_routes`).  An
unprotected route fails the step; a credential that reaches none of the protected
routes fails it; routes the credential cannot reach (403) are a warning, since a
least-privilege credential need not reach every route.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from okta_guard.cli.doctor.report import Step

if TYPE_CHECKING:
    from okta_guard.protect.audit import RouteInfo

__all__ = ["check_routes", "route_verdict"]


def route_verdict(info: RouteInfo, granted: frozenset[str] | None) -> str:
    """``public``, ``UNPROTECTED``, ``ok``, ``403 (needs ...)`` or ``needs ...``."""
    if not info.protected:
        return "public" if info.excluded else "UNPROTECTED"
    missing = [s for s in info.scopes if granted is None or s not in granted]
    any_missing = bool(info.any_of) and (granted is None or not granted & set(info.any_of))
    needs = " ".join(missing) + (" one of " + " ".join(info.any_of) if any_missing else "")
    if granted is None:
        return f"needs {needs.strip() or 'a valid token'}"
    if missing or any_missing:
        return f"403 (needs {needs.strip()})"
    return "ok"


def _label(info: RouteInfo) -> str:
    return f"{','.join(info.methods)} {info.path}"


def check_routes(target: str, infos: Sequence[RouteInfo], granted: Iterable[str] | None) -> Step:
    """Judge the app's routes for a credential granted ``granted`` (``None``: no token)."""
    scopes = frozenset(granted) if granted is not None else None
    verdicts = [(info, route_verdict(info, scopes)) for info in infos]
    width = max((len(_label(info)) for info in infos), default=0)
    lines = tuple(f"{_label(info).ljust(width)}  {verdict}" for info, verdict in verdicts)
    unprotected = [info for info, v in verdicts if v == "UNPROTECTED"]
    protected = [info for info, _ in verdicts if info.protected]
    denied = [info for info, v in verdicts if v.startswith("403")]
    details = {"app": target, "routes": [dict(i.as_dict(), verdict=v) for i, v in verdicts]}
    if unprotected:
        return Step(
            "routes",
            "fail",
            f"{target}: {len(unprotected)} unprotected route(s) of {len(infos)}",
            "Protect them (require_scopes, the middleware or the FastAPI dependency) or mark "
            "them public on purpose (exclude_paths, or --public PATTERN).",
            details,
            lines,
        )
    if scopes is None:
        return Step(
            "routes",
            "skip",
            f"{target}: {len(protected)} protected route(s); no token to compare scopes with",
            details=details,
            lines=lines,
        )
    if protected and len(denied) == len(protected):
        return Step(
            "routes",
            "fail",
            f"{target}: the credential reaches none of the {len(protected)} protected route(s)",
            "Grant the app the scopes the routes need (Okta: the access policy rule), and "
            "request them with --scope.",
            details,
            lines,
        )
    if denied:
        return Step(
            "routes",
            "warn",
            f"{target}: the credential reaches {len(protected) - len(denied)} of "
            f"{len(protected)} protected route(s); 403 on the others",
            "Fine for a least-privilege credential; otherwise grant the missing scopes.",
            details,
            lines,
        )
    return Step(
        "routes",
        "ok",
        f"{target}: the credential reaches all {len(protected)} protected route(s)",
        details=details,
        lines=lines,
    )
