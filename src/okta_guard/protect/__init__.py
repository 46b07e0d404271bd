"""Protecting routes: bearer header parsing, RFC 6750 challenges, the ASGI middleware,
per-route scopes, RFC 9728 metadata and the route audit.

This room depends on the ``Verifier`` protocol only, never on a concrete verifier.
"""
