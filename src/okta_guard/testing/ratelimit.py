"""Okta-style per-minute rate limits for the mock issuer's endpoints.

Okta counts requests per endpoint in fixed one-minute windows and reports the
state in ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and
``X-Rate-Limit-Reset`` (UTC epoch seconds when the window ends) on *every*
response of a rate-limited endpoint.  ``/v1/token``, ``/v1/introspect`` and
``/v1/revoke`` are limited even when nothing is configured
(:data:`OKTA_DEFAULT_LIMITS`); ``/v1/keys`` and discovery are not, unless asked.
One app (client id) may use at most ``app_share`` (Okta's default: 50 %) of a
bucket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .records import check_endpoint

__all__ = ["DEFAULT_APP_SHARE", "OKTA_DEFAULT_LIMITS", "RateLimiter"]

OKTA_DEFAULT_LIMITS: dict[str, int] = {"token": 600, "introspect": 600, "revoke": 600}
"""Per-minute limits when none is configured (Okta's ``/oauth2/{id}/v1`` bucket of a
mid-size edition; Okta's editions range from 300 to 2,000)."""

DEFAULT_APP_SHARE = 0.5
"""Okta's default: one OAuth 2.0 app may use at most 50 % of a bucket."""


class RateLimiter:
    """Fixed-window counters per (authorization server, endpoint) and per app, on a clock."""

    def __init__(self, clock: Callable[[], float], app_share: float = DEFAULT_APP_SHARE) -> None:
        self._clock = clock
        self._limits: dict[str, int] = {}
        self._counts: dict[tuple[str | None, str, str | None], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.app_share = app_share

    @property
    def app_share(self) -> float:
        """The share of a bucket one app may use (0 < share <= 1)."""
        return self._app_share

    @app_share.setter
    def app_share(self, value: float) -> None:
        if not 0 < value <= 1:
            raise ValueError("app_share must be > 0 and <= 1 (1 turns the per-app limit off)")
        self._app_share = float(value)

    def set_limit(self, endpoint: str, per_minute: int | None) -> None:
        """Limit ``endpoint`` (or ``"*"``: each endpoint) to ``per_minute``; ``None`` goes back
        to the default (Okta's limit for token, introspect and revoke; none for the rest)."""
        check_endpoint(endpoint)
        with self._lock:
            if per_minute is None:
                self._limits.pop(endpoint, None)
            else:
                if per_minute < 0:
                    raise ValueError("per_minute must be >= 0")
                self._limits[endpoint] = per_minute
            self._counts.clear()

    def limit_for(self, endpoint: str) -> int | None:
        """The per-minute limit of ``endpoint``, if any."""
        limit = self._limits.get(endpoint, self._limits.get("*"))
        return OKTA_DEFAULT_LIMITS.get(endpoint) if limit is None else limit

    def app_limit(self, limit: int) -> int:
        """How much of a bucket of ``limit`` one app may use (at least 1 of a non-empty one)."""
        return max(1, int(limit * self._app_share)) if limit > 0 else 0

    def hit(
        self, endpoint: str, server_id: str | None, client_id: str | None = None
    ) -> tuple[bool, dict[str, str]]:
        """Count one request; return (allowed, rate-limit headers) — no headers if unlimited.

        With ``client_id`` (a registered app) the app's share applies too, and the
        headers report the app's limit and what remains of it.
        """
        limit = self.limit_for(endpoint)
        if limit is None:
            return True, {}
        window = int(self._clock() // 60 * 60)
        bucket = (server_id, endpoint, None)
        with self._lock:
            used = self._used(bucket, window)
            allowed = used < limit
            shown_limit, remaining = limit, limit - used
            if client_id is not None:
                app = (server_id, endpoint, client_id)
                app_used, app_limit = self._used(app, window), self.app_limit(limit)
                allowed = allowed and app_used < app_limit
                shown_limit, remaining = app_limit, min(remaining, app_limit - app_used)
                if allowed:
                    self._counts[app] = (window, app_used + 1)
            if allowed:
                self._counts[bucket] = (window, used + 1)
                remaining -= 1
        headers = {
            "x-rate-limit-limit": str(shown_limit),
            "x-rate-limit-remaining": str(max(0, remaining)),
            "x-rate-limit-reset": str(window + 60),
        }
        return allowed, headers

    def _used(self, key: tuple[str | None, str, str | None], window: int) -> int:
        start, used = self._counts.get(key, (window, 0))
        return used if start == window else 0
