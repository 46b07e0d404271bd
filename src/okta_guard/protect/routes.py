"""Walking an app's routes: every endpoint, the scopes it requires, the wrappers before it.

:func:`walk_routes` follows middleware wrappers (``.app``), ``Mount``, ``Host`` and
FastAPI dependencies, and yields a :class:`Site` for every app it enters and a
:class:`RouteEntry` per route (per method for ``HTTPEndpoint`` classes).  It knows
nothing of what a wrapper does: :mod:`okta_guard.protect.audit` decides which
wrappers protect what, and :mod:`okta_guard.protect.metadata` only needs
:func:`required_scopes`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.routing import Host, Mount, Route, Router, WebSocketRoute

from okta_guard.protect.requirements import ScopeRequirement, get_requirement

__all__ = ["HTTP_METHODS", "RouteEntry", "Site", "required_scopes", "walk_routes"]

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "QUERY")
_MAX_WRAPPERS = 64


@dataclass(frozen=True)
class Site:
    """An app the walk entered, at mount ``prefix``, with every wrapper in front of it.

    ``wrappers`` holds ``(prefix, wrapper)`` pairs, outermost first: middleware instances
    met on the way and the ``Middleware`` entries of routed apps' ``user_middleware``.
    ``routed`` is false for an app without routes (then one entry ``prefix + "/{path}"``
    stands for all its paths).
    """

    prefix: str
    wrappers: tuple[tuple[str, Any], ...]
    routed: bool


@dataclass(frozen=True)
class RouteEntry:
    """One route (one method of an ``HTTPEndpoint`` class) and what it requires.

    ``source`` says where ``requirement`` came from: ``"require_scopes"``,
    ``"dependency"`` (FastAPI) or ``""``; ``framework_docs`` marks FastAPI's own
    documentation routes.
    """

    path: str
    methods: tuple[str, ...]
    name: str
    requirement: ScopeRequirement | None
    source: str
    endpoint: Any
    site: Site
    framework_docs: bool = False


def _unwrap(app: Any, prefix: str, wrappers: tuple[tuple[str, Any], ...]) -> tuple[Any, Site]:
    """Follow middleware wrappers to the routed app, collecting them."""
    found = list(wrappers)
    for _ in range(_MAX_WRAPPERS):
        if app is None:
            break
        if getattr(app, "routes", None) is not None and (
            isinstance(app, Router) or hasattr(app, "router")
        ):
            found.extend((prefix, entry) for entry in getattr(app, "user_middleware", None) or ())
            return app, Site(prefix, tuple(found), True)
        found.append((prefix, app))
        app = getattr(app, "app", None)
    return None, Site(prefix, tuple(found), False)


def _requirement_of_dependant(dependant: Any) -> ScopeRequirement | None:
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
    return ScopeRequirement(tuple(all_of), tuple(any_of)) if found else None


def _endpoint_entries(
    route: Route | WebSocketRoute,
) -> Iterator[tuple[tuple[str, ...], ScopeRequirement | None, str]]:
    endpoint = route.endpoint
    if isinstance(route, WebSocketRoute):
        methods: tuple[str, ...] = ("WEBSOCKET",)
    else:
        methods = tuple(m for m in HTTP_METHODS if m in (route.methods or ())) or ("*",)
    dependant = getattr(route, "dependant", None)
    if dependant is not None:
        requirement = _requirement_of_dependant(dependant)
        yield methods, requirement, "dependency" if requirement is not None else ""
        return
    if inspect.isclass(endpoint) and issubclass(endpoint, HTTPEndpoint):
        class_requirement = get_requirement(endpoint)
        for method in HTTP_METHODS:
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


def _framework_docs(app: Any) -> set[str]:
    """FastAPI's own documentation routes (OpenAPI, Swagger UI, ReDoc)."""
    names = ("openapi_url", "docs_url", "redoc_url", "swagger_ui_oauth2_redirect_url")
    found = {getattr(app, name, None) for name in names}
    if getattr(app, "docs_url", None) is None:
        found.discard(getattr(app, "swagger_ui_oauth2_redirect_url", None))
    return {path for path in found if isinstance(path, str)}


def _walk(
    app: Any, prefix: str, wrappers: tuple[tuple[str, Any], ...]
) -> Iterator[Site | RouteEntry]:
    if app is None:
        return
    routed, site = _unwrap(app, prefix, wrappers)
    yield site
    if routed is None:
        return
    docs = _framework_docs(routed)
    for route in routed.routes:
        if isinstance(route, Route | WebSocketRoute):
            for methods, requirement, source in _endpoint_entries(route):
                yield RouteEntry(
                    prefix + route.path,
                    methods,
                    route.name or "",
                    requirement,
                    source,
                    route.endpoint,
                    site,
                    route.path in docs,
                )
        elif isinstance(route, Mount):
            yield from _walk(route.app, prefix + route.path, site.wrappers)
        elif isinstance(route, Host):
            yield from _walk(route.app, prefix, site.wrappers)


def walk_routes(app: Any) -> Iterator[Site | RouteEntry]:
    """Every :class:`Site` and :class:`RouteEntry` of ``app``, in route order."""
    return _walk(app, "", ())


def required_scopes(app: Any) -> list[str]:
    """Every scope some route of ``app`` requires (all of or any of), sorted."""
    found: set[str] = set()
    for item in walk_routes(app):
        if isinstance(item, RouteEntry) and item.requirement is not None:
            found.update(item.requirement.scopes)
    return sorted(found)
