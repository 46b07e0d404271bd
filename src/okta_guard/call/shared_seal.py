"""Sealing shared service tokens: the store key of a cache key, and AES-256-GCM entries.

The store sees a key ``token:{hash}`` where the hash covers the issuer, client id,
scopes, auth method, extra parameters and DPoP key thumbprint (nothing secret), and a
value sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the client's own
credentials or an explicit ``encryption_key``, with the slot as associated data.  A
reader of the store gets nothing it can present to an API; an entry altered, moved to
another slot or sealed under other credentials fails to open and is ignored.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from okta_guard.call.auth_methods import PrivateKeyInput, load_private_key
from okta_guard.call.policy import CachedToken, CacheKey
from okta_guard.errors import ConfigurationError
from okta_guard.models import ServiceToken

__all__ = ["TokenSealer", "credential_material", "slot_id", "token_digest"]

_VERSION = b"og1"
_NONCE = 12
_HKDF_SALT = b"okta-guard shared service tokens"


def slot_id(key: CacheKey, thumbprint: str | None = None) -> str:
    """The store key's hash part: everything that changes the token, nothing secret.

    ``thumbprint`` (the DPoP proof key's, else the key's own ``dpop_jkt`` if it has
    one) keeps DPoP-bound tokens to the processes holding that key.
    """
    if thumbprint is None:
        thumbprint = key.dpop_jkt
    canonical = json.dumps(
        [
            1,
            key.issuer,
            key.client_id,
            list(key.scopes),
            key.auth_method,
            [list(p) for p in key.extra_params],
            thumbprint,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def credential_material(secret: str | None, private_key: PrivateKeyInput | None) -> bytes:
    """The client's own credentials as key material (every replica holds the same)."""
    if private_key is not None:
        key, _alg, _kid = load_private_key(private_key)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return b"private-key:" + der
    if secret is not None:
        return b"secret:" + secret.encode("utf-8")
    raise ConfigurationError(
        "A shared store needs a key to encrypt tokens with: pass encryption_key=..."
    )


class TokenSealer:
    """Seals cache entries with AES-256-GCM under a key bound to one slot."""

    __slots__ = ("_aad", "_aead")

    def __init__(self, material: bytes, slot: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=_HKDF_SALT,
            info=b"aes-256-gcm token slot " + slot.encode(),
        ).derive(material)
        self._aead = AESGCM(key)
        self._aad = _VERSION + b":" + slot.encode()

    def __repr__(self) -> str:
        return "TokenSealer(***)"

    def seal(self, entry: CachedToken) -> bytes:
        """Encrypt and authenticate ``entry``."""
        token = entry.token
        issued = token.issued_at.timestamp() if token.issued_at is not None else None
        plain = json.dumps(
            {
                "t": token.access_token,
                "y": token.token_type,
                "s": sorted(token.scopes),
                "i": issued,
                "o": entry.obtained_at,
                "r": entry.refresh_at,
                "e": entry.expires_at,
            },
            separators=(",", ":"),
        ).encode()
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, self._aad)

    def open(self, value: bytes | None) -> CachedToken | None:
        """Decrypt a stored value; ``None`` if absent, foreign, altered or malformed."""
        if value is None:
            return None
        head = len(_VERSION)
        if len(value) < head + _NONCE + 16 or value[:head] != _VERSION:
            return None
        try:
            nonce, sealed = value[head : head + _NONCE], value[head + _NONCE :]
            plain = self._aead.decrypt(nonce, sealed, self._aad)
            data = json.loads(plain)
            return _entry_from(data)
        except (InvalidTag, ValueError, TypeError, KeyError, OverflowError):
            return None


def token_digest(token: ServiceToken) -> bytes:
    """SHA-256 of the token text (to remember a token without keeping it)."""
    return hashlib.sha256(token.access_token.encode()).digest()


def _entry_from(data: Any) -> CachedToken:
    utc = _dt.timezone.utc
    access_token, token_type, scopes = data["t"], data["y"], data["s"]
    if not (isinstance(access_token, str) and isinstance(token_type, str)):
        raise TypeError("malformed entry")
    if not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
        raise TypeError("malformed entry")
    obtained, refresh, expires = (float(data[k]) for k in ("o", "r", "e"))
    issued = data["i"]
    token = ServiceToken(
        access_token=access_token,
        token_type=token_type,
        expires_at=_dt.datetime.fromtimestamp(expires, tz=utc),
        scopes=frozenset(scopes),
        issued_at=_dt.datetime.fromtimestamp(float(issued), tz=utc) if issued is not None else None,
    )
    return CachedToken(token=token, obtained_at=obtained, refresh_at=refresh, expires_at=expires)
