"""okta_guard.testing: a local mock of an Okta custom authorization server for tests.

>>> from okta_guard.testing import MockIssuer
>>> okta = MockIssuer()
>>> okta.issuer
'http://okta.localhost/oauth2/default'
>>> okta.close()

Names are imported lazily, so that the pytest plugin (loaded in every pytest run)
costs nothing until a fixture is used.  See ``docs/testing.md`` for the fixtures,
the context manager and the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .clock import FakeClock

_EXPORTS: dict[str, str] = {
    "IN_PROCESS_BASE_URL": "issuer",
    "MockIssuer": "issuer",
    "KeyState": "keys",
    "SigningKey": "keys",
    "generate_signing_key": "keys",
    "MockRequest": "records",
    "MockResponse": "records",
    "RequestRecord": "records",
    "OMIT": "tokens",
    "TokenHook": "hooks",
}

__all__ = [
    "IN_PROCESS_BASE_URL",
    "OMIT",
    "FakeClock",
    "KeyState",
    "MockIssuer",
    "MockRequest",
    "MockResponse",
    "RequestRecord",
    "SigningKey",
    "TokenHook",
    "generate_signing_key",
]

if TYPE_CHECKING:
    from .hooks import TokenHook
    from .issuer import IN_PROCESS_BASE_URL, MockIssuer
    from .keys import KeyState, SigningKey, generate_signing_key
    from .records import MockRequest, MockResponse, RequestRecord
    from .tokens import OMIT


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'okta_guard.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
