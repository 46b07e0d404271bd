"""okta_guard.testing: a local mock of an Okta custom authorization server for tests.

>>> from okta_guard.testing import MockIssuer
>>> okta = MockIssuer()
>>> okta.issuer
'http://okta.localhost/oauth2/default'
>>> okta.close()

See ``docs/testing.md`` for the fixture, the context manager and the CLI.
"""

from .clock import FakeClock
from .issuer import IN_PROCESS_BASE_URL, MockIssuer
from .keys import KeyState, SigningKey, generate_signing_key
from .records import MockRequest, MockResponse, RequestRecord
from .tokens import OMIT

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
    "generate_signing_key",
]
