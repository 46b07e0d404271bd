"""Output helpers of the CLI: plain-text tables and the service-token table.

Stdlib only, so the command modules can import it at the top without slowing
``okta-guard --help``.  :func:`render_token_table` is reused by the demo, which
prints the same table for several apps.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okta_guard.models import ServiceToken

__all__ = [
    "TOKEN_COLUMNS",
    "abbreviate",
    "dump_json",
    "format_time",
    "render_table",
    "render_token_table",
    "token_json",
]

TOKEN_COLUMNS = ("token.access_token", "token.token_type", "token.expires_in", "token.scope")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a dashed rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def abbreviate(token: str, head: int = 16, tail: int = 8) -> str:
    """Shorten a long token for display: ``eyJraWQiOiJr...Qk9w`` (keeps both ends)."""
    if len(token) <= head + tail + 3:
        return token
    return f"{token[:head]}...{token[-tail:]}"


def _expires_in(token: ServiceToken, now: float) -> int:
    return max(0, int(token.expires_in(now)))


def render_token_table(
    tokens: Sequence[tuple[str | None, ServiceToken]],
    *,
    now: float,
    short: bool = False,
    label: str = "credential",
    max_width: int | None = None,
) -> str:
    """The token table: ``token.access_token``, ``token.token_type``, ``token.expires_in``,
    ``token.scope`` - one row per ``(name, token)``.

    The access token is printed in full (printing it is the point, and it stays
    copyable); ``short=True`` abbreviates it for overviews such as the demo.  When
    any name is given, a first column ``label`` shows it.  ``expires_in`` counts
    whole seconds left at epoch time ``now``.

    When the table would be wider than ``max_width`` (the terminal), it is shown
    *expanded* instead, like ``psql``'s ``\\x auto``: one ``column  value`` line per
    column and a blank line between tokens, so a full token stays on one line
    instead of pushing the other columns off screen.
    """
    named = any(name is not None for name, _ in tokens)
    headers = ([label] if named else []) + list(TOKEN_COLUMNS)
    rows = []
    for name, token in tokens:
        row = [
            abbreviate(token.access_token) if short else token.access_token,
            token.token_type,
            str(_expires_in(token, now)),
            " ".join(sorted(token.scopes)),
        ]
        rows.append(([name or ""] if named else []) + row)
    table = render_table(headers, rows)
    if max_width is None or max(len(line) for line in table.splitlines()) <= max_width:
        return table
    return "\n\n".join(print_mapping(dict(zip(headers, row, strict=True))) for row in rows)


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


def print_mapping(items: Mapping[str, str]) -> str:
    """Two aligned columns ``key  value`` (for ``credentials show`` and verdicts)."""
    width = max((len(k) for k in items), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in items.items())
