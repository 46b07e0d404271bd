"""Tests of okta_guard.verify."""
