"""Tests of okta_guard.protect."""
