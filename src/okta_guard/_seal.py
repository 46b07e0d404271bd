"""Sealed values for shared stores: AES-256-GCM under an HKDF-SHA256 key, bound to a context.

Whatever okta-guard keeps in a store other processes can write to (Redis) is sealed
here, once: service tokens (:mod:`okta_guard.call.shared_seal`) and introspection
answers (:mod:`okta_guard.verify.answer_store`).  A :class:`Sealer` derives its key
from key material every replica holds (the client's credentials) with a salt and
``info`` naming what it seals, so a key for one purpose opens nothing of another.  The
associated data binds a sealed value to where it belongs (its store key): a value
altered, moved to another key, or sealed under other material fails to open.

A sealed value is ``b"og1" + nonce (12 bytes) + ciphertext and tag``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Sealer"]

_VERSION = b"og1"
_NONCE = 12
_TAG = 16


class Sealer:
    """Seals and opens values with AES-256-GCM; the key never leaves the object.

    Args:
        material: the secret key material (e.g. the client's credentials).
        salt, info: HKDF parameters naming the purpose (and, for a per-slot key, the slot).
        aad: associated data of every value (a context given per call is appended).
    """

    __slots__ = ("_aad", "_aead")

    def __init__(self, material: bytes, *, salt: bytes, info: bytes, aad: bytes = b"") -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(material)
        self._aead = AESGCM(key)
        self._aad = _VERSION + b":" + aad

    def __repr__(self) -> str:
        return "Sealer(***)"

    def seal(self, plain: bytes, context: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plain``, bound to ``context`` (e.g. its store key)."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, self._aad + context)

    def open(self, value: object, context: bytes = b"") -> bytes | None:
        """The plain bytes of a sealed ``value``; ``None`` if absent, foreign or altered."""
        head = len(_VERSION)
        if not isinstance(value, bytes) or len(value) < head + _NONCE + _TAG:
            return None
        if value[:head] != _VERSION:
            return None
        nonce, sealed = value[head : head + _NONCE], value[head + _NONCE :]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad + context)
        except InvalidTag:
            return None
