"""``@public``: mark an endpoint as public on purpose, for the route audit.

``okta-guard routes`` (and ``okta-guard doctor --app``) flag every route that is
neither protected nor deliberately public.  Routes behind the middleware are made
public with ``exclude_paths``; an app protected per route (``require_scopes``, the
FastAPI dependency) marks its open routes with this decorator instead::

    @app.get("/health")
    @public
    async def health() -> dict[str, str]: ...

It changes nothing at request time: it only records the intent, so that the audit
can tell a forgotten route from an open one.  Combined with ``require_scopes`` the
requirement wins (the route stays protected).
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["PUBLIC_ATTR", "is_public", "public"]

PUBLIC_ATTR = "__okta_guard_public__"
_T = TypeVar("_T")


def public(endpoint: _T) -> _T:
    """Mark ``endpoint`` (a function or an endpoint class) as public on purpose."""
    try:
        setattr(endpoint, PUBLIC_ATTR, True)
    except (AttributeError, TypeError):
        raise TypeError(
            f"@public cannot mark {endpoint!r}: use it on a function or an endpoint class."
        ) from None
    return endpoint


def is_public(endpoint: Any) -> bool:
    """Whether ``endpoint`` was marked with :func:`public`."""
    return getattr(endpoint, PUBLIC_ATTR, False) is True
