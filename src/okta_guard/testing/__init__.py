"""okta_guard.testing: a local mock of an Okta custom authorization server for tests."""

from .clock import FakeClock

__all__ = ["FakeClock"]
