"""Plain-text tables for terminals, shared by the CLI and the demo (stdlib only).

Both applications print the same service-token table; it lives here, below both,
so that neither imports the other (the CLI may run the demo, never the reverse).
Nothing here does I/O: every function returns text.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from okta_guard.models import ServiceToken

__all__ = [
    "TOKEN_COLUMNS",
    "abbreviate",
    "fit_token_table",
    "indent",
    "print_mapping",
    "render_table",
    "render_token_table",
]

TOKEN_COLUMNS = ("token.access_token", "token.token_type", "token.expires_in", "token.scope")
# (head, tail) characters kept of an abbreviated token, widest first
_ABBREVIATIONS = ((16, 8), (12, 6), (10, 5), (8, 4), (4, 4))


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


def print_mapping(items: Mapping[str, str]) -> str:
    """Two aligned columns ``key  value`` (for ``credentials show`` and verdicts)."""
    width = max((len(k) for k in items), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in items.items())


def indent(text: str, prefix: str = "  ") -> str:
    """Prefix every non-empty line of ``text``."""
    return textwrap.indent(text, prefix)


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


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

    The access token is printed as given; ``short=True`` abbreviates it.  When any
    name is given, a first column ``label`` shows it.  ``expires_in`` counts whole
    seconds left at epoch time ``now``.  When the table would be wider than
    ``max_width`` it is shown *expanded* instead, like ``psql``'s ``\\x auto``: one
    ``column  value`` line per column and a blank line between tokens.
    """
    named = any(name is not None for name, _ in tokens)
    headers = ([label] if named else []) + list(TOKEN_COLUMNS)
    rows = []
    for name, token in tokens:
        row = [
            abbreviate(token.access_token) if short else token.access_token,
            token.token_type,
            str(max(0, int(token.expires_in(now)))),
            " ".join(sorted(token.scopes)),
        ]
        rows.append(([name or ""] if named else []) + row)
    table = render_table(headers, rows)
    if max_width is None or _widest(table) <= max_width:
        return table
    return "\n\n".join(print_mapping(dict(zip(headers, row, strict=True))) for row in rows)


def fit_token_table(
    tokens: Sequence[tuple[str | None, ServiceToken]],
    *,
    now: float,
    width: int,
    prefix: str = "",
    label: str = "credential",
    drop_names: bool = False,
) -> tuple[str, bool]:
    """The token table with tokens abbreviated until it fits in ``width`` columns.

    Tries the table indented by ``prefix``, then without the indent, each with
    ever shorter tokens; with ``drop_names`` also without the name column; and
    finally the expanded layout.  Returns the text and whether names are shown.
    The full token is never printed here (use ``--raw`` or ``--json`` for it).
    """
    has_names = any(name is not None for name, _ in tokens)
    for named in (True, False) if drop_names and has_names else (has_names,):
        for lead in dict.fromkeys((prefix, "")):
            for head, tail in _ABBREVIATIONS:
                short = [
                    (name if named else None, _shortened(token, head, tail))
                    for name, token in tokens
                ]
                table = render_token_table(short, now=now, label=label)
                if _widest(table) <= width - len(lead):
                    return indent(table, lead), named
    expanded = render_token_table(
        [(name, _shortened(token, 8, 4)) for name, token in tokens],
        now=now,
        label=label,
        max_width=width - len(prefix),
    )
    return indent(expanded, prefix), has_names


def _shortened(token: ServiceToken, head: int, tail: int) -> ServiceToken:
    return dataclasses.replace(token, access_token=abbreviate(token.access_token, head, tail))
