"""Output helpers of the CLI: JSON, times, and the terminal tables.

Stdlib only, so the command modules can import it at the top without slowing
``okta-guard --help``.  The tables themselves live in :mod:`okta_guard._terminal`,
below both the CLI and the demo, and are re-exported here for the commands.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

from okta_guard._terminal import (
    TOKEN_COLUMNS,
    abbreviate,
    fit_token_table,
    print_mapping,
    render_table,
    render_token_table,
)

if TYPE_CHECKING:
    from okta_guard.models import ServiceToken

__all__ = [
    "TOKEN_COLUMNS",
    "abbreviate",
    "dump_json",
    "fit_token_table",
    "format_time",
    "print_mapping",
    "render_table",
    "render_token_table",
    "token_json",
]


def _expires_in(token: ServiceToken, now: float) -> int:
    return max(0, int(token.expires_in(now)))


def token_json(token: ServiceToken, now: float) -> dict[str, Any]:
    """The token as a token-endpoint-like JSON object, plus ``expires_at`` (ISO 8601)."""
    return {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_in": _expires_in(token, now),
        "scope": " ".join(sorted(token.scopes)),
        "expires_at": token.expires_at.isoformat(),
    }


def dump_json(data: Any) -> str:
    """Pretty, stable JSON for terminal output."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def format_time(value: Any, now: float) -> str:
    """Render an epoch-seconds claim as ISO time plus a relative hint; other values as JSON."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json.dumps(value)
    try:
        when = _dt.datetime.fromtimestamp(float(value), tz=_dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return json.dumps(value)
    delta = int(float(value) - now)
    span = _span(abs(delta))
    rel = f"in {span}" if delta >= 0 else f"{span} ago"
    return f"{when.isoformat().replace('+00:00', 'Z')} ({rel})"


def _span(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
