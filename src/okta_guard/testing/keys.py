"""Signing keys of the mock issuer and their Okta-like lifecycle (ACTIVE, NEXT, EXPIRED).

RSA-2048 key generation costs ~50 ms, so private keys come from a small
process-wide pool: a :class:`KeyRing` *leases* keys and gives them back when its
issuer is closed.  Every lease gets a fresh random ``kid``, so a key reused by a
later issuer never matches a token minted by an earlier one.  Two issuers alive
at the same time never share a key.
"""

from __future__ import annotations

import base64
import enum
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KeyRing", "KeyState", "SigningKey", "generate_signing_key", "jwk_from_public_key"]


class KeyState(str, enum.Enum):
    """Lifecycle state of a signing key, as Okta names them."""

    ACTIVE = "ACTIVE"
    NEXT = "NEXT"
    EXPIRED = "EXPIRED"


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_kid() -> str:
    """Return a random key id shaped like Okta's (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)[:43]


def jwk_from_public_key(public_key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    """Return the public JWK of an RSA key as Okta publishes it (no private parts)."""
    numbers = public_key.public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "kid": kid,
        "use": "sig",
        "e": _b64_uint(numbers.e),
        "n": _b64_uint(numbers.n),
    }


@dataclass(eq=False)
class SigningKey:
    """An RSA signing key with its ``kid`` and lifecycle ``state``.

    The private key is never part of the ``repr`` nor of :meth:`public_jwk`.
    """

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    state: KeyState = KeyState.NEXT
    _jwk: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK (``kty``, ``alg``, ``kid``, ``use``, ``e``, ``n``), a fresh copy."""
        if self._jwk is None:  # computed once: base64 of the modulus costs ~40 us a key
            self._jwk = jwk_from_public_key(self.private_key.public_key(), self.kid)
        return dict(self._jwk)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The RSA public key."""
        return self.private_key.public_key()


class _KeyPool:
    """Process-wide pool of RSA private keys, leased out one issuer at a time."""

    def __init__(self) -> None:
        self._free: list[rsa.RSAPrivateKey] = []
        self._lock = threading.Lock()

    def acquire(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._free:
                return self._free.pop()
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def release(self, keys: Iterable[rsa.RSAPrivateKey]) -> None:
        with self._lock:
            self._free.extend(keys)


_POOL = _KeyPool()


def generate_signing_key(kid: str | None = None) -> SigningKey:
    """Create a fresh RSA-2048 :class:`SigningKey` that no issuer publishes.

    Useful for negative tests ("signed by a key the issuer does not know").
    """
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid=kid or new_kid(), private_key=private, state=KeyState.EXPIRED)


class KeyRing:
    """The keys of one authorization server: one ACTIVE, one NEXT, maybe EXPIRED ones.

    ``published()`` is what ``/v1/keys`` serves.  Every key ever held stays in
    ``history`` so introspection can still recognise tokens it signed.
    """

    def __init__(self, *, keep_expired: int = 1) -> None:
        self.keep_expired = keep_expired
        self._published: list[SigningKey] = []
        self.history: dict[str, SigningKey] = {}
        self._add(KeyState.ACTIVE)
        self._add(KeyState.NEXT)

    def _add(self, state: KeyState) -> SigningKey:
        key = SigningKey(kid=new_kid(), private_key=_POOL.acquire(), state=state)
        self._published.append(key)
        self.history[key.kid] = key
        return key

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return next(k for k in self._published if k.state is KeyState.ACTIVE)

    @property
    def next(self) -> SigningKey:
        """The key published ahead of use, ACTIVE after the next rotation."""
        return next(k for k in self._published if k.state is KeyState.NEXT)

    def published(self) -> list[SigningKey]:
        """The keys ``/v1/keys`` serves, ACTIVE first."""
        order = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.EXPIRED: 2}
        return sorted(self._published, key=lambda k: order[k.state])

    def get(self, kid: str) -> SigningKey | None:
        """Any key this ring ever held, by ``kid``."""
        return self.history.get(kid)

    def rotate(self, *, keep_previous: bool = True) -> SigningKey:
        """Advance the lifecycle: NEXT becomes ACTIVE, a new NEXT appears.

        The previous ACTIVE key becomes EXPIRED and stays published (up to
        ``keep_expired`` of them) unless ``keep_previous`` is false, as in an
        emergency rotation.  Returns the new ACTIVE key.
        """
        old, nxt = self.active, self.next
        old.state = KeyState.EXPIRED
        nxt.state = KeyState.ACTIVE
        self._add(KeyState.NEXT)
        if not keep_previous:
            self._published.remove(old)
        expired = [k for k in self._published if k.state is KeyState.EXPIRED]
        for stale in expired[: max(0, len(expired) - self.keep_expired)]:
            self._published.remove(stale)
        return nxt

    def drop_expired(self) -> None:
        """Stop publishing every EXPIRED key."""
        self._published = [k for k in self._published if k.state is not KeyState.EXPIRED]

    def release(self) -> None:
        """Give the private keys back to the process pool (the ring is unusable after)."""
        _POOL.release(k.private_key for k in self.history.values())
        self.history.clear()
        self._published.clear()
