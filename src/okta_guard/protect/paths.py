"""Which requests skip authentication: ``exclude_paths`` patterns and the plain-path rule.

A pattern is matched against the path the app's router routes (``root_path``
removed, as Starlette does it), case-sensitively, without normalisation:

* ``"/health"``: exactly this path;
* ``"/docs*"``: any path starting with ``/docs`` (``/docs``, ``/docs/x``, ``/docsx``);
* ``"/public/"``: ``/public`` itself and everything below ``/public/``.

A request is excluded only when its path is also *plain* (:func:`is_plain_path`): no
``.`` or ``..`` segment, no empty segment (``//``), no backslash, ``%``, ``;`` or
control character after the server's percent-decoding, and no encoded ``/`` or ``\\``
in ``raw_path``.  Anything else could be read as another path further in (a
catch-all route, a static-file handler, a proxy), so it is never excluded: it is
authenticated like every other path.  Spring Security's ``StrictHttpFirewall``
refuses such requests outright; Envoy normalises them before matching; okta-guard
takes the conservative half of both (see ``docs/middleware.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import Scope

from okta_guard.errors import ConfigurationError

__all__ = ["PathMatcher", "is_plain_path", "route_path"]

# After percent-decoding: a backslash, a percent sign (double encoding), a semicolon
# (path parameters, "..;"), an empty segment, or a control character.
_NOT_PLAIN = re.compile(r"[\\%;\x00-\x1f\x7f]|//")
# In the raw (still encoded) path: an encoded slash or backslash.
_ENCODED_SEPARATOR = re.compile(rb"%(?:2f|5c)", re.IGNORECASE)


def route_path(scope: Scope) -> str:
    """The request path the app's router sees: ``root_path`` removed when the path starts
    with it as a whole segment (Starlette's rule; the path itself otherwise)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    return rest if not rest or rest[0] == "/" else path


def is_plain_path(path: str, raw_path: bytes | None = None) -> bool:
    """Tell whether ``path`` (decoded) and ``raw_path`` (as sent) leave no room for a second
    reading: see the module docstring for the rule."""
    if not path.startswith("/") or _NOT_PLAIN.search(path):
        return False
    if "/." in path:
        for segment in path.split("/"):
            if segment == "." or segment == "..":
                return False
    return raw_path is None or not _ENCODED_SEPARATOR.search(raw_path)


class PathMatcher:
    """Match request paths against ``exclude_paths`` patterns (syntax in the module docstring).

    Calling it matches a bare path; :meth:`excludes` decides for a request.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        patterns = tuple(patterns)
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.startswith("/"):
                raise ConfigurationError(
                    f"exclude_paths entry {pattern!r} must be a path starting with '/'."
                )
            if not is_plain_path(pattern.removesuffix("*")):
                raise ConfigurationError(
                    f"exclude_paths entry {pattern!r} must be a plain path: no '.' or '..' "
                    "segments, no '//', and no backslash, '%', ';' or control characters."
                )
            if pattern.endswith("*"):
                prefixes.append(pattern[:-1])
            elif pattern.endswith("/") and pattern != "/":
                prefixes.append(pattern)
                exact.add(pattern[:-1])
            else:
                exact.add(pattern)
        self.patterns = patterns
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, path: str) -> bool:
        """Tell whether ``path`` matches a pattern (no plain-path check)."""
        return path in self.exact or (bool(self.prefixes) and path.startswith(self.prefixes))

    def excludes(self, scope: Scope) -> bool:
        """Tell whether the request of ``scope`` skips authentication: its route path
        matches a pattern and the whole path is plain."""
        return self(route_path(scope)) and is_plain_path(scope["path"], scope.get("raw_path"))
