"""Token verification: strict JWS parsing, claims, the key set and its cache,
the verdict cache and :class:`~okta_guard.TokenVerifier`.
"""
