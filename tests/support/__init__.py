"""Helpers shared by the tests: fake verifiers, fake Okta transports, token builders."""
