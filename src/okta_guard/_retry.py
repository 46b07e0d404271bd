"""Pure helpers for waiting politely: backoff with jitter and Okta's rate-limit headers.

Shared by the key cache and the token client; they take the time and the
randomness as arguments so that callers stay sans-IO and testable.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Mapping

__all__ = ["backoff_delay", "retry_after_seconds"]


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (1-based): "full jitter" exponential backoff.

    The delay is uniform in ``[d/2, d]`` where ``d = min(cap, base * 2**(attempt-1))``,
    so retries spread out but never collapse to zero.
    """
    exp = min(cap, base * float(2 ** max(0, attempt - 1)))
    jitter: float = rand()
    return exp / 2 + jitter * exp / 2


def retry_after_seconds(
    headers: Mapping[str, str], now: float, *, cap: float = 300.0
) -> float | None:
    """How long the server asked us to wait, from ``Retry-After`` or ``X-Rate-Limit-Reset``.

    ``Retry-After`` may be delta-seconds or an HTTP date; Okta's
    ``X-Rate-Limit-Reset`` is a UTC epoch second.  The answer is clamped to
    ``[0, cap]``; ``None`` when neither header is present and usable.  Header
    lookup is case-insensitive when ``headers`` is (``httpx.Headers`` is).
    """
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        value = value.strip()
        seconds: float | None = None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                seconds = when.timestamp() - now
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = None
        if seconds is not None and math.isfinite(seconds):
            return min(cap, max(0.0, seconds))
    reset = headers.get("X-Rate-Limit-Reset") or headers.get("x-rate-limit-reset")
    if reset:
        try:
            seconds = float(reset) - now
        except ValueError:
            return None
        if math.isfinite(seconds):
            return min(cap, max(0.0, seconds))
    return None
