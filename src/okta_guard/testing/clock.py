"""A controllable clock for tests: time moves only when the test says so."""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A callable returning epoch seconds, like :func:`time.time`, that only moves on demand.

    Pass it as ``clock=`` to :class:`~okta_guard.TokenVerifier`,
    :class:`~okta_guard.TokenClient` and :class:`~okta_guard.testing.MockIssuer`
    so that expiry, cooldowns and refreshes are tested exactly and without sleeping.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("FakeClock only moves forward; pass a non-negative number")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to epoch time ``now`` (may go backwards, to test clock skew)."""
        with self._lock:
            self._now = float(now)

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
