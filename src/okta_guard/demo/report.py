"""Text output of ``okta-guard demo``: tables that fit in 80 columns.

Pure formatting, no I/O: the calls table (status and ``WWW-Authenticate``
answer of each request), the service-token table (the same table as
``okta-guard token``, from :mod:`okta_guard._terminal`, with tokens shortened
until it fits) and the key cache counters (:class:`~okta_guard.verify.stats.VerifierStats`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from okta_guard._terminal import fit_token_table as _fit_token_table
from okta_guard._terminal import indent, render_table
from okta_guard.models import ServiceToken
from okta_guard.verify.stats import VerifierStats

__all__ = [
    "WIDTH",
    "Call",
    "Printer",
    "challenge_lines",
    "fit_token_table",
    "indent",
    "parse_challenge",
    "split_challenges",
    "render_calls",
    "render_stats",
    "verdict_summary",
    "wrap",
]

#: Every line the demo prints fits in this many columns.
WIDTH = 80
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)=("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_SCHEME = re.compile(r"\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:\s+(?![=,])|\s*,\s*|\s*$)")


@dataclass(frozen=True)
class Call:
    """One request the demo made and what the API answered."""

    method: str
    path: str
    credentials: str
    status: int
    expected: int
    challenge: str | None = None

    @property
    def as_expected(self) -> bool:
        """Whether the API answered with the expected status."""
        return self.status == self.expected


def split_challenges(value: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Split a ``WWW-Authenticate`` value into its challenges: ``(scheme, params)`` each.

    ``Bearer realm="api", DPoP algs="ES256"`` gives two.  Values keep their quotes,
    as they appear on the wire.
    """
    challenges: list[tuple[str, list[tuple[str, str]]]] = []
    text = value.strip()
    pos = 0
    while pos < len(text):
        scheme = _SCHEME.match(text, pos)
        if scheme is None:
            break
        params: list[tuple[str, str]] = []
        challenges.append((scheme.group(1), params))
        pos = scheme.end()
        while pos < len(text):
            match = _PARAM.match(text, pos)
            if match is None or match.end() == pos:
                if _SCHEME.match(text, pos) is None:
                    params.append(("", text[pos:].strip()))
                    pos = len(text)
                break
            params.append((match.group(1), match.group(2)))
            pos = match.end()
    return challenges or [(text, [])]


def parse_challenge(value: str) -> tuple[str, list[tuple[str, str]]]:
    """The challenge of a ``WWW-Authenticate`` value that carries the ``error`` (else the
    first one): its scheme and ``(name, value)`` pairs, values quoted as on the wire."""
    challenges = split_challenges(value)
    for scheme, params in challenges:
        if any(name == "error" for name, _ in params):
            return scheme, params
    return challenges[0]


def challenge_lines(value: str | None, room: int) -> tuple[str, list[str]]:
    """The challenge as a short head (at most ``room`` columns) and further lines.

    The head is the scheme and the first parameter (normally ``error``); the
    other parameters follow, one per line.  ``realm``, ``resource_metadata`` and
    DPoP's ``algs`` are the same on every answer, so they are left out (the caller
    says so once) unless nothing else is there.  Of several challenges (``Bearer``
    and ``DPoP``), the one carrying the error is shown.
    """
    if not value:
        return "-", []
    scheme, params = parse_challenge(value)
    shown = [(k, v) for k, v in params if k not in ("realm", "resource_metadata", "algs")]
    if not shown:
        shown = [(k, v) for k, v in params if k == "realm"]
    texts = [f"{k}={v}" if k else v for k, v in shown]
    if texts and len(scheme) + 1 + len(texts[0]) <= room:
        return f"{scheme} {texts[0]}", texts[1:]
    return scheme, texts


def wrap(text: str, width: int, *, subsequent: str = "") -> list[str]:
    """Wrap ``text`` at ``width`` columns, breaking long words if needed."""
    return textwrap.wrap(
        text,
        width=max(width, 8),
        subsequent_indent=subsequent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [""]


def render_calls(calls: Sequence[tuple[int, Call]], *, width: int = WIDTH) -> str:
    """The calls table: number, request, credentials, status, ``WWW-Authenticate``.

    The challenge's first parameter (its ``error``) stays in the row; the others
    (``error_description``, ``scope``) follow on lines of their own under the
    request column, wrapped so that no line exceeds ``width``.
    """
    headers = ["#", "request", "token", "status", "WWW-Authenticate"]
    firsts = [
        [str(number), f"{call.method:<4} {call.path}", call.credentials, str(call.status)]
        for number, call in calls
    ]
    widths = [len(h) for h in headers[:-1]]
    for row in firsts:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    room = width - sum(widths) - 2 * len(widths)
    rows: list[list[str]] = []
    more: list[list[str]] = []
    for row, (_, call) in zip(firsts, calls, strict=True):
        head, rest = challenge_lines(call.challenge, room) if call.status >= 400 else ("-", [])
        rows.append([*row, head])
        more.append(rest)
    lines = render_table(headers, rows).splitlines()
    out = lines[:2]
    pad = " " * (widths[0] + 2)
    for line, extra in zip(lines[2:], more, strict=True):
        out.append(line)
        for text in extra:
            out.extend(pad + part for part in wrap(text, width - len(pad), subsequent="  "))
    return "\n".join(out)


def fit_token_table(
    tokens: Sequence[tuple[str, ServiceToken]],
    *,
    now: float,
    width: int = WIDTH,
    prefix: str = "  ",
) -> tuple[str, bool]:
    """The token table of ``okta-guard token``, tokens shortened until it fits in ``width``.

    Tries, in order: with a first column naming each app, indented by ``prefix``;
    the same without the indent; without the names, indented, then not; and
    finally the expanded layout.  Returns the text and whether the names are shown.
    """
    return _fit_token_table(
        list(tokens), now=now, width=width, prefix=prefix, label="app", drop_names=True
    )


_STAT_ROWS = (
    "fetches",
    "fetch_failures",
    "keys_cached",
    "key_set_generation",
    "unknown_kids",
    "cache_hits",
    "cache_misses",
    "accepted",
    "rejected",
)


def render_stats(
    snapshots: Sequence[tuple[str, VerifierStats]],
    extra: Sequence[tuple[str, Sequence[int]]] = (),
) -> str:
    """A table of key cache counters, one column per ``(label, snapshot)``.

    ``extra`` adds rows measured elsewhere (e.g. requests the mock issuer saw).
    """
    headers = ["verifier.stats", *(label for label, _ in snapshots)]
    rows = [[name, *(str(getattr(stats, name)) for _, stats in snapshots)] for name in _STAT_ROWS]
    rows.extend([label, *(str(v) for v in values)] for label, values in extra)
    return render_table(headers, rows)


def verdict_summary(stats: VerifierStats) -> str:
    """``ok 6, bad_signature 1, expired 1`` - the verdicts by reason."""
    items = sorted(stats.verdicts.items(), key=lambda item: (item[0] != "ok", item[0]))
    return ", ".join(f"{reason} {count}" for reason, count in items) or "none"


class Printer:
    """Prints to ``out``; wraps any line wider than :data:`WIDTH` (a safety net)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, text: str = "") -> None:
        for line in text.splitlines() or [""]:
            if len(line) <= WIDTH:
                print(line, file=self.out)
                continue
            lead = line[: len(line) - len(line.lstrip())]
            for part in wrap(line.strip(), WIDTH - len(lead) - 2, subsequent="  "):
                print(f"{lead}{part}", file=self.out)

    def para(self, text: str, prefix: str = "  ") -> None:
        """A paragraph wrapped at the width, indented."""
        self(
            textwrap.fill(
                text,
                WIDTH,
                initial_indent=prefix,
                subsequent_indent=prefix,
                break_on_hyphens=False,
            )
        )

    def pairs(self, items: Sequence[tuple[str, str]], prefix: str = "  ") -> None:
        """Aligned ``key  value`` lines; long values wrap under themselves."""
        key_width = max(len(k) for k, _ in items)
        room = WIDTH - len(prefix) - key_width - 2
        for key, value in items:
            lines = wrap(value, room)
            self(f"{prefix}{key.ljust(key_width)}  {lines[0]}")
            for line in lines[1:]:
                self(f"{prefix}{' ' * key_width}  {line}")
