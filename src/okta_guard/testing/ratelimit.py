"""Okta-style per-minute rate limits for the mock issuer's endpoints.

Okta counts requests per endpoint in fixed one-minute windows and reports the
state in ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and
``X-Rate-Limit-Reset`` (UTC epoch seconds when the window ends).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .records import check_endpoint

__all__ = ["RateLimiter"]


class RateLimiter:
    """Fixed-window counters, one per (authorization server, endpoint), on a given clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._limits: dict[str, int] = {}
        self._counts: dict[tuple[str | None, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def set_limit(self, endpoint: str, per_minute: int | None) -> None:
        """Limit ``endpoint`` (or ``"*"``: each endpoint) to ``per_minute``; ``None`` lifts it."""
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
        return self._limits.get(endpoint, self._limits.get("*"))

    def hit(self, endpoint: str, server_id: str | None) -> tuple[bool, dict[str, str]]:
        """Count one request; return (allowed, rate-limit headers) — no headers if unlimited."""
        limit = self.limit_for(endpoint)
        if limit is None:
            return True, {}
        now = self._clock()
        window = int(now // 60 * 60)
        with self._lock:
            start, used = self._counts.get((server_id, endpoint), (window, 0))
            if start != window:
                start, used = window, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._counts[(server_id, endpoint)] = (start, used)
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - used)),
            "x-rate-limit-reset": str(window + 60),
        }
        return allowed, headers
