"""Token inline hooks, as Okta calls them before it issues an access token.

Okta sends a ``com.okta.oauth2.tokens.transform`` event to the hook and applies
the ``com.okta.access.patch`` commands of its answer (``add``, ``replace`` and
``remove`` on ``/claims/...``, ``replace`` on ``/token/lifetime/expiration``).
The hook has 3 seconds.  If it cannot be reached, times out, answers non-200,
answers something that is not a hook response or sends a patch Okta refuses,
the token is issued **unmodified** - silently.  If it answers an ``error``
object, the client gets ``server_error`` with the ``errorSummary``.

:class:`TokenHook` wraps either a callable (``request dict -> response dict``;
an exception counts as "unreachable") or an ``http(s)`` URL.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "HOOK_TIMEOUT",
    "MAX_HOOK_ANSWER",
    "HookError",
    "TokenHook",
    "apply_patch",
    "hook_request",
]

HOOK_TIMEOUT = 3.0
"""Okta's timeout for an inline hook, in seconds."""

MAX_HOOK_ANSWER = 256 * 1024
"""The largest hook answer the mock reads, in bytes (a larger one is ignored)."""

_RESERVED = frozenset(
    {"cid", "uid", "iss", "jti", "ver", "iat", "exp", "nbf", "auth_time", "cnf", "scp"}
)
_LIFETIME_RANGE = (300, 86_400)

HookCallable = Callable[[dict[str, Any]], Mapping[str, Any] | None]


class HookError(Exception):
    """The hook answered an ``error`` object: the token request fails with ``server_error``."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


class _BadPatch(Exception):
    """A command Okta refuses: the whole answer is ignored."""


@dataclass
class TokenHook:
    """A token inline hook: a callable or a URL, with Okta's 3 s timeout.

    ``headers`` are sent with each call to a URL (Okta's hook authentication
    header, e.g. ``{"Authorization": "Bearer ..."}``).  ``calls`` counts the
    calls made, ``failures`` those whose answer was ignored.
    """

    target: str | HookCallable
    timeout: float = HOOK_TIMEOUT
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    calls: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.target, str) and not self.target.startswith(("http://", "https://")):
            raise ValueError("a token hook URL must start with http:// or https://")
        if not callable(self.target) and not isinstance(self.target, str):
            raise TypeError("token_hook must be a callable, an http(s) URL or a TokenHook")
        if self.timeout <= 0:
            raise ValueError("the hook timeout must be > 0 seconds")

    @classmethod
    def of(cls, value: str | HookCallable | TokenHook | None) -> TokenHook | None:
        """``value`` as a :class:`TokenHook` (``None`` stays ``None``)."""
        if value is None or isinstance(value, TokenHook):
            return value
        return cls(value)

    def transform(
        self, claims: dict[str, Any], lifetime: int, context: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        """Call the hook; return the (possibly patched) claims and lifetime.

        Raises :class:`HookError` for an ``error`` answer; every other failure
        returns ``claims`` and ``lifetime`` unchanged, as Okta does.
        """
        self.calls += 1
        answer = self._call(hook_request(claims, lifetime, context))
        if isinstance(answer, Mapping) and isinstance(answer.get("error"), Mapping):
            summary = answer["error"].get("errorSummary")
            raise HookError(str(summary) if summary else "The inline hook returned an error.")
        try:
            if not isinstance(answer, Mapping):
                raise _BadPatch("no answer")
            return apply_patch(claims, lifetime, answer)
        except (_BadPatch, RecursionError):  # a patch Okta refuses: the token is unmodified
            self.failures += 1
            return claims, lifetime

    def _call(self, payload: dict[str, Any]) -> Any:
        if isinstance(self.target, str):
            url, headers = self.target, dict(self.headers)
            return _call_with_timeout(
                lambda body: _post(url, body, headers, self.timeout), payload, self.timeout
            )
        return _call_with_timeout(self.target, payload, self.timeout)


def _post(url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float) -> Any:
    """POST the event; the parsed answer, or ``None`` for anything Okta would ignore.

    The answer is read within ``timeout`` *in total* (a hook that drips its body is cut
    off, as Okta's 3 s limit is for the whole call) and at most ``MAX_HOOK_ANSWER`` bytes
    of it, uncompressed.
    """
    ends = time.monotonic() + timeout
    sent = {**headers, "Accept-Encoding": "identity"}
    with (
        httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
        client.stream("POST", url, json=payload, headers=sent) as response,
    ):
        if response.status_code != 200 or response.headers.get(
            "content-encoding", "identity"
        ).lower() not in ("", "identity"):
            return None
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_HOOK_ANSWER:
            return None
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > MAX_HOOK_ANSWER or time.monotonic() > ends:
                return None
    return json.loads(body)


def _call_with_timeout(target: HookCallable, payload: dict[str, Any], timeout: float) -> Any:
    """Run ``target(payload)`` in a thread; ``None`` if it raises or outlives ``timeout``."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(target(copy.deepcopy(payload)))
        except Exception:  # the hook is "down" (or answered garbage): issued unmodified
            result.append(None)

    worker = threading.Thread(target=run, name="okta-guard-mock-token-hook", daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0] if result else None


def hook_request(
    claims: Mapping[str, Any], lifetime: int, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The event Okta posts to a token inline hook (the parts a client credentials grant has)."""
    scopes = claims.get("scp") or []
    return {
        "source": f"{context.get('issuer', '')}/v1/token",
        "eventId": secrets.token_urlsafe(16),
        "eventTime": time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(float(context.get("now", time.time())))
        ),
        "eventTypeVersion": "1.0",
        "cloudEventVersion": "0.1",
        "contentType": "application/json",
        "eventType": "com.okta.oauth2.tokens.transform",
        "data": {
            "context": {
                "request": {
                    "method": "POST",
                    "url": {"value": f"{context.get('issuer')}/v1/token"},
                },
                "protocol": {
                    "type": "OAUTH2.0",
                    "request": {
                        "grant_type": "client_credentials",
                        "scope": " ".join(scopes) if isinstance(scopes, list) else scopes,
                    },
                    "issuer": {"uri": context.get("issuer")},
                    "client": {"id": context.get("client_id"), "type": "PUBLIC"},
                },
            },
            "access": {
                "claims": copy.deepcopy(dict(claims)),
                "token": {"lifetime": {"expiration": lifetime}},
                "scopes": {s: {"id": s, "action": "GRANT"} for s in scopes},
            },
        },
    }


def apply_patch(
    claims: dict[str, Any], lifetime: int, answer: Mapping[str, Any]
) -> tuple[dict[str, Any], int]:
    """Apply the ``com.okta.access.patch`` commands of ``answer`` (``_BadPatch`` if refused)."""
    commands = answer.get("commands", [])
    if not isinstance(commands, list):
        raise _BadPatch("commands must be a list")
    patched = copy.deepcopy(claims)
    for command in commands:
        if not isinstance(command, Mapping) or not isinstance(command.get("value"), list):
            raise _BadPatch("a command needs a type and a list of operations")
        if command.get("type") != "com.okta.access.patch":
            continue  # com.okta.identity.patch: no ID token in this grant
        for operation in command["value"]:
            lifetime = _apply(patched, lifetime, operation)
    return patched, lifetime


def _apply(claims: dict[str, Any], lifetime: int, operation: Any) -> int:
    if not isinstance(operation, Mapping):
        raise _BadPatch("an operation must be an object")
    op, path, value = operation.get("op"), operation.get("path"), operation.get("value")
    if op not in ("add", "replace", "remove") or not isinstance(path, str):
        raise _BadPatch("op must be add, replace or remove, with a path")
    if path == "/token/lifetime/expiration":
        low, high = _LIFETIME_RANGE
        if op != "replace" or not isinstance(value, int) or not low <= value <= high:
            raise _BadPatch("the lifetime must be replaced by 300..86400 seconds")
        return value
    if not path.startswith("/claims/"):
        raise _BadPatch(f"cannot patch {path}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[len("/claims/") :].split("/")]
    if not parts[0] or parts[0] in _RESERVED:
        raise _BadPatch(f"claim {parts[0]!r} cannot be changed")
    parent: Any = claims
    for part in parts[:-1]:
        parent = _child(parent, part)
    _change(parent, parts[-1], op, value)
    return lifetime


def _is_index(part: str) -> bool:
    """An array index of a JSON Pointer: ASCII digits (``str.isdigit`` also takes ``²``)."""
    return 0 < len(part) <= 9 and part.isascii() and part.isdigit()


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and _is_index(part) and int(part) < len(node):
        return node[int(part)]
    raise _BadPatch(f"no member {part!r} to patch into")


def _change(parent: Any, last: str, op: str, value: Any) -> None:
    if isinstance(parent, dict):
        if op != "add" and last not in parent:
            raise _BadPatch(f"cannot {op} missing claim {last!r}")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = value
        return
    if isinstance(parent, list):
        if op == "add" and last == "-":
            parent.append(value)
            return
        if not _is_index(last) or int(last) >= len(parent) + (op == "add"):
            raise _BadPatch(f"bad array index {last!r}")
        index = int(last)
        if op == "add":
            parent.insert(index, value)
        elif op == "replace":
            parent[index] = value
        else:
            del parent[index]
        return
    raise _BadPatch("can only patch objects and arrays")
