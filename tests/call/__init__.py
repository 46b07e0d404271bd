"""Tests of okta_guard.call."""
