"""pytest plugin of okta-guard (entry point ``pytest11``): the ``okta_issuer`` fixture."""
