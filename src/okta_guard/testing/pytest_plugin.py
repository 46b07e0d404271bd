"""pytest plugin of okta-guard (entry point ``pytest11``): mock Okta fixtures.

Fixtures:

* ``okta_issuer`` — an in-process :class:`~okta_guard.testing.MockIssuer`
  (issuer ``http://okta.localhost/oauth2/default``); reach it through
  ``okta_issuer.transport`` / ``okta_issuer.http_client()``.  Real clock.
* ``okta_issuer_server`` — the same, serving on a real loopback port
  (issuer ``http://127.0.0.1:{port}/oauth2/default``).
* ``fake_clock`` — a :class:`~okta_guard.testing.FakeClock`.

Mark a test ``@pytest.mark.okta_issuer(**kwargs)`` to pass keyword arguments to
``MockIssuer`` (for example ``rate_limit=5`` or ``audience="api://orders"``);
pass ``clock=fake_clock`` by requesting the ``fake_clock`` fixture and using the
marker value ``clock="fake_clock"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .clock import FakeClock

if TYPE_CHECKING:  # imported lazily: the plugin loads in every pytest run
    from .issuer import MockIssuer

__all__ = ["fake_clock", "okta_issuer", "okta_issuer_server"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``okta_issuer`` marker."""
    config.addinivalue_line(
        "markers", "okta_issuer(**kwargs): keyword arguments for the okta_issuer fixtures"
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("okta_issuer")
    options = dict(marker.kwargs) if marker else {}
    if options.get("clock") == "fake_clock":
        options["clock"] = request.getfixturevalue("fake_clock")
    return options


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`FakeClock` at a fixed epoch; share it with the mock and the code under test."""
    return FakeClock()


@pytest.fixture
def okta_issuer(request: pytest.FixtureRequest) -> Iterator[MockIssuer]:
    """An in-process mock Okta issuer, closed after the test."""
    from .issuer import MockIssuer

    okta = MockIssuer(**_options(request))
    try:
        yield okta
    finally:
        okta.close()


@pytest.fixture
def okta_issuer_server(request: pytest.FixtureRequest) -> Iterator[MockIssuer]:
    """A mock Okta issuer serving on a loopback port (``http://127.0.0.1:PORT``)."""
    from .issuer import MockIssuer

    with MockIssuer(**_options(request)) as okta:
        yield okta
