"""Route audit: which routes of a Starlette/FastAPI app require which scopes.

:func:`audit_routes` walks an app's routes (:func:`~okta_guard.protect.routes.walk_routes`:
through ``Mount``, ``Host``, middleware wrappers and FastAPI dependencies) and returns
one :class:`RouteInfo` per route (per method for ``HTTPEndpoint`` classes).  A route is
*protected* when it requires a token: by :func:`~okta_guard.require_scopes`, the FastAPI
dependency, or :class:`~okta_guard.OktaGuardMiddleware` covering its path.
Routes that are neither protected nor deliberately public (``exclude_paths`` of
the middleware, ``public_paths=`` here, endpoints marked ``@public``, the RFC 9728
metadata) are *unprotected* and get flagged; FastAPI's own documentation routes
(``/openapi.json``, ``/docs``, ``/redoc``) count as public.  ``okta-guard routes
module:app`` prints a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from okta_guard.protect.dpop import dpop_support
from okta_guard.protect.metadata import ProtectedResourceMetadata
from okta_guard.protect.middleware import OktaGuardMiddleware
from okta_guard.protect.paths import PathMatcher
from okta_guard.protect.public import is_public
from okta_guard.protect.requirements import ScopeRequirement
from okta_guard.protect.routes import RouteEntry, Site, walk_routes

__all__ = ["RouteInfo", "audit_routes", "format_table"]


@dataclass(frozen=True)
class RouteInfo:
    """One route of the audited app.

    Attributes:
        path: full path template (mount prefixes included).
        methods: HTTP methods (``("WEBSOCKET",)`` for websocket routes, ``("*",)`` for
            mounted apps without routes).
        name: the route name.
        scopes: scopes that must all be granted.
        any_of: alternatives, one of which must be granted.
        protected: a valid access token is required.
        excluded: deliberately public (``exclude_paths``, ``public_paths``, metadata).
        source: what protects it: ``"require_scopes"``, ``"dependency"``,
            ``"middleware"`` or ``""``.
        schemes: the ``Authorization`` schemes accepted, when the covering middleware's
            verifier tells: ``("Bearer",)``, ``("Bearer", "DPoP")`` or ``("DPoP",)``.
    """

    path: str
    methods: tuple[str, ...]
    name: str
    scopes: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    protected: bool = False
    excluded: bool = False
    source: str = ""
    schemes: tuple[str, ...] = ()

    @property
    def unprotected(self) -> bool:
        """Neither protected nor deliberately public: worth a look."""
        return not self.protected and not self.excluded

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "path": self.path,
            "methods": list(self.methods),
            "name": self.name,
            "scopes": list(self.scopes),
            "any_of": list(self.any_of),
            "protected": self.protected,
            "excluded": self.excluded,
            "unprotected": self.unprotected,
            "source": self.source,
            "schemes": list(self.schemes),
        }


@dataclass(frozen=True)
class _Guard:
    """A middleware covering part of the tree: its path matcher, relative to ``prefix``."""

    excluded: Callable[[str], bool]
    allow_anonymous: bool
    prefix: str
    metadata_path: str | None
    schemes: tuple[str, ...] = ()


def _schemes(verifier: object) -> tuple[str, ...]:
    if verifier is None:
        return ()
    support = dpop_support(verifier)
    if support is None:
        return ("Bearer",)
    return ("DPoP",) if support.required else ("Bearer", "DPoP")


def _guard(prefix: str, wrapper: Any) -> _Guard | None:
    """The guard a wrapper stands for: an ``OktaGuardMiddleware`` instance or entry."""
    if isinstance(wrapper, OktaGuardMiddleware):
        path = wrapper.metadata.path if wrapper.metadata is not None else None
        return _Guard(
            wrapper.excluded, wrapper.allow_anonymous, prefix, path, _schemes(wrapper.verifier)
        )
    cls = getattr(wrapper, "cls", None)
    if isinstance(cls, type) and issubclass(cls, OktaGuardMiddleware):
        kwargs: dict[str, Any] = dict(getattr(wrapper, "kwargs", {}) or {})
        metadata = kwargs.get("resource_metadata", True)
        path = None
        if metadata is True:
            path = ProtectedResourceMetadata("", resource=kwargs.get("resource")).path
        return _Guard(
            PathMatcher(kwargs.get("exclude_paths", ())),
            bool(kwargs.get("allow_anonymous", False)),
            prefix,
            path,
            _schemes(kwargs.get("verifier")),
        )
    return None


def _guards(site: Site) -> list[_Guard]:
    return [g for g in (_guard(prefix, w) for prefix, w in site.wrappers) if g is not None]


def _info(
    path: str,
    methods: tuple[str, ...],
    name: str,
    requirement: ScopeRequirement | None,
    source: str,
    guards: list[_Guard],
    public: PathMatcher,
    public_by_design: bool = False,
) -> RouteInfo:
    covered = False
    excluded = public_by_design or public(path)
    schemes: tuple[str, ...] = ()
    for guard in guards:
        inner = path[len(guard.prefix) :] if path.startswith(guard.prefix) else path
        inner = inner or "/"
        schemes = guard.schemes or schemes
        if guard.excluded(inner):
            excluded = True
        elif not guard.allow_anonymous:
            covered = True
    if requirement is not None:
        return RouteInfo(
            path,
            methods,
            name,
            requirement.all_of,
            requirement.any_of,
            True,
            excluded,
            source,
            schemes,
        )
    if covered and not excluded:
        return RouteInfo(path, methods, name, protected=True, source="middleware", schemes=schemes)
    return RouteInfo(path, methods, name, excluded=excluded)


def audit_routes(app: Any, *, public_paths: Iterable[str] = ()) -> list[RouteInfo]:
    """List every route of ``app`` with the scopes it requires.

    Args:
        app: a Starlette or FastAPI app, a ``Router``, or an app wrapped in middleware.
        public_paths: paths that are public on purpose (same syntax as
            ``exclude_paths``); they are reported ``excluded`` instead of unprotected.
    """
    public = PathMatcher(public_paths)
    infos: list[RouteInfo] = []
    guards_of: dict[int, list[_Guard]] = {}
    for item in walk_routes(app):
        if isinstance(item, Site):
            guards = guards_of[id(item)] = _guards(item)
            for guard in guards:
                if guard.metadata_path is not None and guard.prefix == item.prefix:
                    infos.append(
                        RouteInfo(
                            item.prefix + guard.metadata_path,
                            ("GET", "HEAD"),
                            "oauth_protected_resource",
                            excluded=True,
                        )
                    )
            if not item.routed:
                path = item.prefix + "/{path}"
                infos.append(_info(path, ("*",), "", None, "", guards, public))
            continue
        entry: RouteEntry = item
        is_metadata = isinstance(entry.endpoint, ProtectedResourceMetadata) or is_public(
            entry.endpoint
        )
        infos.append(
            _info(
                entry.path,
                entry.methods,
                entry.name,
                entry.requirement,
                entry.source,
                guards_of[id(entry.site)],
                public,
                is_metadata or entry.framework_docs,
            )
        )
    return infos


def format_table(infos: Iterable[RouteInfo]) -> str:
    """Render route infos as a plain-text table (one line per route)."""
    rows = [("METHODS", "PATH", "SCOPES", "STATUS")]
    for info in infos:
        scopes = " ".join(info.scopes)
        if info.any_of:
            scopes = (scopes + " " if scopes else "") + "any of(" + " ".join(info.any_of) + ")"
        if info.protected:
            status = f"protected ({info.source})"
            if "DPoP" in info.schemes:
                status += ", DPoP only" if "Bearer" not in info.schemes else ", DPoP allowed"
        elif info.excluded:
            status = "public"
        else:
            status = "UNPROTECTED"
        rows.append((",".join(info.methods), info.path, scopes or "-", status))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    )
