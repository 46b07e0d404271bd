"""The doctor's vocabulary: one :class:`Step` per check, and its text and JSON forms.

Pure: no I/O.  A step's ``status`` is ``ok``, ``warn`` (works, but worth a look),
``fail`` (this breaks authentication; ``fix`` says what to do) or ``skip`` (not
run: an earlier step failed, or it was not asked for; ``summary`` says which).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["OK", "Status", "Step", "exit_code", "render_json", "render_text", "skipped"]

Status = Literal["ok", "warn", "fail", "skip"]
OK: Status = "ok"
_LABELS: Mapping[str, str] = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}


@dataclass(frozen=True)
class Step:
    """The verdict of one check.

    Attributes:
        name: the check (``issuer``, ``discovery``, ``metadata``, ``keys``, ``clock``,
            ``token``, ``verify``, ``routes``).
        status: ``ok``, ``warn``, ``fail`` or ``skip``.
        summary: one line saying what was found.
        fix: what to do about a ``fail`` (or a ``warn``); empty when nothing to do.
        details: machine-readable facts for ``--json`` (never a secret or a token).
        lines: extra lines under the step (one per route for ``routes``).
    """

    name: str
    status: Status
    summary: str
    fix: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Whether this step breaks authentication."""
        return self.status == "fail"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "fix": self.fix or None,
            "details": dict(self.details),
            "lines": list(self.lines),
        }


def skipped(name: str, why: str) -> Step:
    """A step that did not run, and why."""
    return Step(name, "skip", why)


def exit_code(steps: Sequence[Step]) -> int:
    """0 when no step failed, 1 otherwise."""
    return 1 if any(step.failed for step in steps) else 0


def render_text(target: str, steps: Sequence[Step], width: int = 100) -> str:
    """One line per step (``status  name  summary``), then ``fix:`` lines for failures."""
    name_width = max((len(step.name) for step in steps), default=0)
    lead = " " * (2 + 4 + 2 + name_width + 2)
    out = [f"okta-guard doctor: {target}"]
    for step in steps:
        head = f"  {_LABELS[step.status]:<4}  {step.name.ljust(name_width)}  "
        out.extend(_wrap(step.summary, head, lead, width))
        out.extend(f"{lead}{line}" for line in step.lines)
        if step.fix and step.status in ("fail", "warn"):
            out.extend(_wrap(step.fix, lead + "fix: ", lead + "     ", width))
    counts = {status: sum(s.status == status for s in steps) for status in _LABELS}
    verdict = "all checks passed" if not counts["fail"] else f"{counts['fail']} check(s) failed"
    out.append(
        f"{verdict} ({counts['ok']} ok, {counts['warn']} warning(s), "
        f"{counts['fail']} failed, {counts['skip']} skipped)"
    )
    return "\n".join(out)


def _wrap(text: str, first: str, rest: str, width: int) -> list[str]:
    return textwrap.wrap(
        text,
        width=max(width, len(first) + 20),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def render_json(target: str, steps: Sequence[Step]) -> dict[str, Any]:
    """The ``--json`` document: the target, ``ok`` (no step failed) and every step."""
    return {
        "target": target,
        "ok": not any(step.failed for step in steps),
        "steps": [step.as_dict() for step in steps],
    }
