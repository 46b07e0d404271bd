"""``okta-guard demo``: an application of the library, not part of it.

End to end against the mock issuer or a real tenant.
"""
