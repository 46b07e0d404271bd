"""Route audit: which routes of a Starlette/FastAPI app require which scopes.

:func:`audit_routes` walks an app's routes (through ``Mount``, ``Host``,
middleware wrappers and FastAPI dependencies) and returns one :class:`RouteInfo`
per route (per method for ``HTTPEndpoint`` classes).  A route is *protected* when
it requires a token: by :func:`~okta_guard.require_scopes`, the FastAPI
dependency, or :class:`~okta_guard.OktaGuardMiddleware` covering its path.
Routes that are neither protected nor deliberately public (``exclude_paths`` of
the middleware, ``public_paths=`` here, the RFC 9728 metadata) are *unprotected*
and get flagged; FastAPI's own documentation routes (``/openapi.json``, ``/docs``,
``/redoc``) count as public.  ``okta-guard routes module:app`` prints a table.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.routing import Host, Mount, Route, Router, WebSocketRoute

from okta_guard.protect.bearer import ScopeRequirement
from okta_guard.protect.dpop import dpop_support
from okta_guard.protect.metadata import ProtectedResourceMetadata
from okta_guard.protect.middleware import OktaGuardMiddleware, PathMatcher
from okta_guard.protect.scopes import get_requirement

__all__ = ["RouteInfo", "audit_routes", "format_table"]

_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY")


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


def _middleware_guards(app: Any, prefix: str) -> list[_Guard]:
    guards: list[_Guard] = []
    for entry in getattr(app, "user_middleware", None) or ():
        cls = getattr(entry, "cls", None)
        if isinstance(cls, type) and issubclass(cls, OktaGuardMiddleware):
            kwargs: dict[str, Any] = dict(getattr(entry, "kwargs", {}) or {})
            metadata = kwargs.get("resource_metadata", True)
            path = None
            if metadata is True:
                path = ProtectedResourceMetadata("", resource=kwargs.get("resource")).path
            guards.append(
                _Guard(
                    PathMatcher(kwargs.get("exclude_paths", ())),
                    bool(kwargs.get("allow_anonymous", False)),
                    prefix,
                    path,
                    _schemes(kwargs.get("verifier")),
                )
            )
    return guards


def _unwrap(app: Any, prefix: str, guards: list[_Guard]) -> tuple[Any, list[_Guard]]:
    """Follow middleware wrappers to the routed app, collecting okta-guard middleware."""
    guards = list(guards)
    seen = 0
    while app is not None and seen < 64:
        seen += 1
        if isinstance(app, OktaGuardMiddleware):
            path = app.metadata.path if app.metadata is not None else None
            guards.append(
                _Guard(app.excluded, app.allow_anonymous, prefix, path, _schemes(app.verifier))
            )
        if getattr(app, "routes", None) is not None and (
            isinstance(app, Router) or hasattr(app, "router")
        ):
            guards.extend(_middleware_guards(app, prefix))
            return app, guards
        app = getattr(app, "app", None)
    return None, guards


def _requirement_of_dependant(dependant: Any) -> tuple[ScopeRequirement | None, bool]:
    """Scopes required through FastAPI dependencies (``okta_guard.fastapi``)."""
    all_of: list[str] = []
    any_of: list[str] = []
    found = False
    stack = list(getattr(dependant, "dependencies", None) or ())
    while stack:
        dep = stack.pop()
        call = getattr(dep, "call", None)
        if getattr(call, "__okta_guard_dependency__", False):
            found = True
            for scope in (*(dep.parent_oauth_scopes or ()), *(dep.own_oauth_scopes or ())):
                if scope not in all_of:
                    all_of.append(scope)
            requirement = get_requirement(call)
            if requirement is not None:
                all_of.extend(s for s in requirement.all_of if s not in all_of)
                any_of.extend(s for s in requirement.any_of if s not in any_of)
        stack.extend(getattr(dep, "dependencies", None) or ())
    if not found:
        return None, False
    return ScopeRequirement(tuple(all_of), tuple(any_of)), True


def _endpoint_entries(
    route: Route | WebSocketRoute,
) -> Iterator[tuple[tuple[str, ...], ScopeRequirement | None, str]]:
    endpoint = route.endpoint
    if isinstance(route, WebSocketRoute):
        methods: tuple[str, ...] = ("WEBSOCKET",)
    else:
        methods = tuple(m for m in _HTTP_METHODS if m in (route.methods or ())) or ("*",)
    dependant = getattr(route, "dependant", None)
    if dependant is not None:
        requirement, _ = _requirement_of_dependant(dependant)
        yield methods, requirement, "dependency" if requirement is not None else ""
        return
    if inspect.isclass(endpoint) and issubclass(endpoint, HTTPEndpoint):
        class_requirement = get_requirement(endpoint)
        for method in _HTTP_METHODS:
            handler = getattr(endpoint, method.lower(), None)
            if handler is None:
                continue
            requirement = class_requirement or get_requirement(handler)
            yield (method,), requirement, "require_scopes" if requirement else ""
        return
    if inspect.isclass(endpoint) and issubclass(endpoint, WebSocketEndpoint):
        requirement = get_requirement(endpoint) or get_requirement(
            getattr(endpoint, "on_connect", None)
        )
    else:
        requirement = get_requirement(endpoint)
    yield methods, requirement, "require_scopes" if requirement else ""


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


def _framework_docs(app: Any) -> set[str]:
    """FastAPI's own documentation routes (OpenAPI, Swagger UI, ReDoc): public by design."""
    names = ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    found = {getattr(app, name, None) for name in names}
    if getattr(app, "docs_url", None) is None:
        found.discard(getattr(app, "swagger_ui_oauth2_redirect_url", None))
    return {path for path in found if isinstance(path, str)}


def _walk(app: Any, prefix: str, guards: list[_Guard], public: PathMatcher) -> list[RouteInfo]:
    routed, guards = _unwrap(app, prefix, guards)
    infos: list[RouteInfo] = []
    for guard in guards:
        if guard.metadata_path is not None and guard.prefix == prefix:
            infos.append(
                RouteInfo(
                    prefix + guard.metadata_path,
                    ("GET", "HEAD"),
                    "oauth_protected_resource",
                    excluded=True,
                )
            )
    if routed is None:
        if app is not None:
            infos.append(_info(prefix + "/{path}", ("*",), "", None, "", guards, public))
        return infos
    docs = _framework_docs(routed)
    for route in routed.routes:
        if isinstance(route, Route | WebSocketRoute):
            endpoint = route.endpoint
            is_metadata = isinstance(endpoint, ProtectedResourceMetadata) or route.path in docs
            for methods, requirement, source in _endpoint_entries(route):
                infos.append(
                    _info(
                        prefix + route.path,
                        methods,
                        route.name or "",
                        requirement,
                        source,
                        guards,
                        public,
                        is_metadata,
                    )
                )
        elif isinstance(route, Mount):
            infos.extend(_walk(route.app, prefix + route.path, guards, public))
        elif isinstance(route, Host):
            infos.extend(_walk(route.app, prefix, guards, public))
    return infos


def audit_routes(app: Any, *, public_paths: Iterable[str] = ()) -> list[RouteInfo]:
    """List every route of ``app`` with the scopes it requires.

    Args:
        app: a Starlette or FastAPI app, a ``Router``, or an app wrapped in middleware.
        public_paths: paths that are public on purpose (same syntax as
            ``exclude_paths``); they are reported ``excluded`` instead of unprotected.
    """
    return _walk(app, "", [], PathMatcher(public_paths))


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
