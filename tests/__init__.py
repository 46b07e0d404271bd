"""Tests of okta-guard: one folder per room of the package, cross-cutting suites at the top."""
