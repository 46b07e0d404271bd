"""Tests of okta_guard.testing."""
