"""What a route requires of an access token: :class:`ScopeRequirement`.

Built and validated once (at decoration time), stored on the endpoint as
``__okta_guard_scopes__`` for the route audit and RFC 9728 ``scopes_supported``,
and checked against every request's :class:`~okta_guard.AccessToken`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from okta_guard._grammar import SCOPE_TOKEN
from okta_guard.errors import ConfigurationError, InsufficientScopeError
from okta_guard.models import AccessToken

__all__ = ["SCOPES_ATTR", "ScopeRequirement", "get_requirement"]

#: Attribute holding an endpoint's :class:`ScopeRequirement`.
SCOPES_ATTR = "__okta_guard_scopes__"

_SCOPE_TOKEN = SCOPE_TOKEN  # RFC 6749 §3.3 scope-token


@dataclass(frozen=True)
class ScopeRequirement:
    """The scopes a route requires: every one of ``all_of`` and one of ``any_of``."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    _all: frozenset[str] = field(init=False, repr=False, compare=False)
    _any: frozenset[str] = field(init=False, repr=False, compare=False)
    #: ``granted(scopes) -> bool``: whether a token granting ``scopes`` (a frozenset)
    #: satisfies the requirement.  Without ``any_of`` it is the required set's own
    #: ``issubset`` (one C call per request, no Python frame).
    granted: Callable[[frozenset[str]], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_all", frozenset(self.all_of))
        object.__setattr__(self, "_any", frozenset(self.any_of))
        granted = self._all.issubset if not self._any else self._granted_with_alternatives
        object.__setattr__(self, "granted", granted)

    def _granted_with_alternatives(self, scopes: frozenset[str]) -> bool:
        return self._all <= scopes and not self._any.isdisjoint(scopes)

    @classmethod
    def build(cls, all_of: Iterable[str], any_of: Iterable[str] | None) -> ScopeRequirement:
        """Validate and build a requirement (raises ``ConfigurationError``)."""
        required = tuple(dict.fromkeys(all_of))
        alternatives = tuple(dict.fromkeys(any_of or ()))
        for scope in (*required, *alternatives):
            if not isinstance(scope, str) or not scope or not _SCOPE_TOKEN.fullmatch(scope):
                raise ConfigurationError(
                    f"Invalid scope name {scope!r}: scopes are non-empty strings without "
                    "spaces, quotes or backslashes."
                )
        if any_of is not None and not alternatives:
            raise ConfigurationError("require_scopes(any_of=...) needs at least one scope.")
        return cls(required, alternatives)

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope named by this requirement (for audits and metadata)."""
        return tuple(dict.fromkeys((*self.all_of, *self.any_of)))

    def allows(self, token: AccessToken) -> bool:
        """Tell whether ``token`` satisfies the requirement."""
        return self.granted(token.scopes)

    def check(self, token: AccessToken) -> None:
        """Raise :class:`InsufficientScopeError` unless ``token`` satisfies the requirement."""
        granted = token.scopes
        if not self._all <= granted:
            raise InsufficientScopeError(self.all_of)
        if self._any and self._any.isdisjoint(granted):
            raise InsufficientScopeError(self.any_of, any_of=True)

    def as_dict(self) -> Mapping[str, Any]:
        """A JSON-friendly form."""
        return {"all_of": list(self.all_of), "any_of": list(self.any_of)}


def get_requirement(endpoint: object) -> ScopeRequirement | None:
    """The :class:`ScopeRequirement` stored on ``endpoint`` by ``require_scopes``."""
    value = getattr(endpoint, SCOPES_ATTR, None)
    return value if isinstance(value, ScopeRequirement) else None
