"""What the call face puts in a shared store, sealed: service tokens and introspection answers.

The store sees a key ``token:{hash}`` where the hash covers the issuer, client id,
scopes, auth method, extra parameters and DPoP key thumbprint (nothing secret), and a
value sealed with AES-256-GCM (:class:`okta_guard._seal.Sealer`) under a key derived
(HKDF-SHA256) from the client's own credentials or an explicit ``encryption_key``,
with the slot as associated data.  A reader of the store gets nothing it can present
to an API; an entry altered, moved to another slot or sealed under other credentials
fails to open and is ignored.  Introspection answers are sealed the same way, under a
key from the introspection client's credentials (:func:`answer_sealer`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization

from okta_guard._seal import Sealer
from okta_guard.call.auth_methods import PrivateKeyInput, load_private_key
from okta_guard.call.policy import CachedToken, CacheKey
from okta_guard.errors import ConfigurationError
from okta_guard.models import ServiceToken

__all__ = [
    "TokenSealer",
    "answer_sealer",
    "credential_material",
    "slot_id",
    "token_digest",
]

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

    __slots__ = ("_sealer",)

    def __init__(self, material: bytes, slot: str) -> None:
        self._sealer = Sealer(
            material,
            salt=_HKDF_SALT,
            info=b"aes-256-gcm token slot " + slot.encode(),
            aad=slot.encode(),
        )

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
        return self._sealer.seal(plain)

    def open(self, value: bytes | None) -> CachedToken | None:
        """Decrypt a stored value; ``None`` if absent, foreign, altered or malformed."""
        plain = self._sealer.open(value)
        if plain is None:
            return None
        try:
            return _entry_from(json.loads(plain))
        except (ValueError, TypeError, KeyError, OverflowError):
            return None


def answer_sealer(material: bytes, issuer: str) -> Sealer:
    """The sealer of introspection answers about ``issuer``'s tokens in a shared store.

    ``material`` is the introspection client's :func:`credential_material`: every
    replica with the same credentials opens what another sealed, nobody else can.
    """
    return Sealer(
        material,
        salt=b"okta-guard introspection answers",
        info=b"aes-256-gcm introspection answers " + issuer.encode(),
    )


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
