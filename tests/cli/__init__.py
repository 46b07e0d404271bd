"""Tests of okta_guard.cli."""
