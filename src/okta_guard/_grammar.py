"""One home for each grammar rule the product checks text against.

Every module that needs one of these rules imports it from here, so a rule cannot
drift between two copies.  (``okta_guard.testing`` keeps its own: the mock is an
independent check of the product and imports nothing of it.)
"""

from __future__ import annotations

import re
from typing import Literal, get_args

__all__ = [
    "AUTH_METHODS",
    "B64TOKEN_CHARS",
    "B64URL_ALPHABET",
    "ENV_REFERENCE",
    "NOT_ERROR_DESCRIPTION_CHAR",
    "NOT_SCOPE_CHAR",
    "SCOPE_TOKEN",
    "AuthMethod",
    "env_reference",
    "is_scope_token",
]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_CHARS = r"\x21\x23-\x5b\x5d-\x7e"
#: One scope token (use ``fullmatch``).
SCOPE_TOKEN = re.compile(f"[{_SCOPE_CHARS}]+")
#: Any character a scope token may not hold (to strip them from text shown in a header).
NOT_SCOPE_CHAR = re.compile(f"[^{_SCOPE_CHARS}]")

# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
NOT_ERROR_DESCRIPTION_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")

#: RFC 4648 §5: the base64url alphabet (JWS segments and JWK members use it unpadded).
B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
#: (the characters before the padding).
B64TOKEN_CHARS = B64URL_ALPHABET + b"._~+/"

#: How a client authenticates at the token endpoint (Okta supports these four).
AuthMethod = Literal[
    "client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"
]
AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)

#: A secret kept as a reference to an environment variable: ``env:VAR``.
ENV_REFERENCE = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def is_scope_token(value: object) -> bool:
    """Tell whether ``value`` is one RFC 6749 scope token."""
    return isinstance(value, str) and SCOPE_TOKEN.fullmatch(value) is not None


def env_reference(value: str) -> str | None:
    """The variable name of an ``env:VAR`` reference, or ``None`` if ``value`` is not one."""
    match = ENV_REFERENCE.fullmatch(value)
    return match.group(1) if match else None
