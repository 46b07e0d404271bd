"""Tests of okta_guard.demo."""
