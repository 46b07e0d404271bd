"""Calling APIs: the client-credentials :class:`~okta_guard.TokenClient`, its auth
methods, token policy and cache, the httpx auth and the CLI's credential store.
"""
