"""DPoP proof checks at a resource server (RFC 9449 §4.3), free of I/O but for the store.

:class:`DPoPChecker` checks one ``DPoP`` proof header against the request it came
with and the access token it accompanies:

1. one compact JWS, canonical base64url, strict JSON, header members ``typ``, ``alg``,
   ``jwk`` (and an ignored ``kid``) only; ``typ`` is ``dpop+jwt``;
2. ``alg`` from an asymmetric allowlist (never ``none`` or HMAC); ``jwk`` a public key
   of the matching type (a ``d`` or any other private member is refused; RSA >= 2048 bits);
3. the signature by that key;
4. ``htm`` equals the request method, ``htu`` the request URL (without query and fragment,
   compared after RFC 3986 syntax and scheme normalisation);
5. ``iat`` within ``max_age`` (plus leeway) in the past and the leeway in the future;
6. the server nonce, when nonces are on (``DPoPNonceError`` carries a fresh one);
7. ``ath`` equals the base64url SHA-256 of the access token, and the token's ``cnf.jkt``
   equals the RFC 7638 thumbprint of the proof key (:meth:`DPoPChecker.bind`);
8. last, the ``jti`` is recorded in the replay store: a second use is refused.

The header and its key (steps 1-3) are in :mod:`okta_guard.verify.dpop_jwk`.
Every refusal is an :class:`~okta_guard.errors.InvalidDPoPProofError` with a stable
``reason`` (``dpop_replay``, ``dpop_htu`` ...); a store failure is a
:class:`~okta_guard.errors.ReplayStoreError` (503) unless ``fail_open``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from okta_guard.errors import (
    ConfigurationError,
    DPoPNonceError,
    InvalidDPoPProofError,
    InvalidTokenError,
    ReplayStoreError,
)
from okta_guard.verify.dpop_jwk import (
    DPOP_ALGORITHMS,
    HeaderRefused,
    ProofKey,
    b64url,
    check_header,
    jwk_thumbprint,
    signature_ok,
)
from okta_guard.verify.jws import b64url_decode, parse_json_object
from okta_guard.verify.replay import MemoryReplayStore, ReplayStore

__all__ = [
    "DPOP_ALGORITHMS",
    "DPoPChecker",
    "DPoPMode",
    "DPoPProof",
    "access_token_hash",
    "jwk_thumbprint",
    "normalize_htu",
]

logger = logging.getLogger("okta_guard.verify.dpop")

DPoPMode = Literal["allowed", "required", "disabled"]
DPOP_MODES = ("allowed", "required", "disabled")

_MAX_PROOF = 8192
_MAX_JTI = 256
_KEY_CACHE_SIZE = 256
_NUMBERS = (int, float)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

_DESCRIPTIONS = {
    "dpop_missing": "The request has no DPoP proof; send one in the DPoP header.",
    "dpop_malformed": "The DPoP proof is not a well-formed JWT.",
    "dpop_header": "The DPoP proof header may hold only typ, alg and jwk.",
    "dpop_typ": "The DPoP proof's typ must be dpop+jwt.",
    "dpop_alg": "The DPoP proof's alg is not accepted here.",
    "dpop_jwk": "The DPoP proof's jwk is not a usable public key for its alg.",
    "dpop_private_jwk": "The DPoP proof's jwk must be a public key.",
    "dpop_signature": "The DPoP proof's signature is invalid.",
    "dpop_claims": "The DPoP proof lacks a valid jti, htm, htu or iat claim.",
    "dpop_htm": "The DPoP proof was made for another HTTP method.",
    "dpop_htu": "The DPoP proof was made for another URL.",
    "dpop_iat_stale": "The DPoP proof is too old; make a fresh one for each request.",
    "dpop_iat_future": "The DPoP proof's iat is in the future; check the client's clock.",
    "dpop_replay": "The DPoP proof was used before; make a fresh one for each request.",
    "dpop_ath": "The DPoP proof's ath does not match the access token.",
    "dpop_jkt": "The DPoP proof is not signed by the key the access token is bound to.",
    "dpop_unbound_token": "The access token is not DPoP-bound; send it as a Bearer token.",
}


def _refuse(reason: str) -> InvalidDPoPProofError:
    return InvalidDPoPProofError(_DESCRIPTIONS.get(reason), reason=reason)


def _header_key(segment: bytes, algorithms: frozenset[str]) -> ProofKey:
    try:
        return check_header(segment, algorithms)
    except HeaderRefused as refused:
        raise _refuse(str(refused)) from None


def access_token_hash(access_token: str) -> str:
    """The ``ath`` of a proof: base64url SHA-256 of the access token's ASCII bytes."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def normalize_htu(url: str) -> str | None:
    """``url`` without query and fragment, scheme and host in lower case, default port and
    empty path normalised (RFC 3986 §6.2.2-6.2.3); ``None`` if it is no absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = quote(unquote(parts.path), safe=_PATH_SAFE) or "/"
    return f"{scheme}://{netloc}{path}"


class DPoPProof(NamedTuple):
    """A proof whose signature and request binding passed; ``jkt`` its key's thumbprint."""

    jkt: str
    jti: str
    ath: str | None
    nonce: str | None
    iat: float
    alg: str


class _Nonces:
    """Stateless server nonces: an HMAC over the time slot, valid in this slot and the last."""

    def __init__(self, secret: bytes, lifetime: float) -> None:
        self._secret = secret
        self._lifetime = lifetime

    def _make(self, slot: int) -> str:
        data = struct.pack(">Q", slot)
        mac = hmac.new(self._secret, data, hashlib.sha256).digest()[:18]
        return b64url(data + mac)

    def current(self, now: float) -> str:
        return self._make(int(now // self._lifetime))

    def valid(self, nonce: object, now: float) -> bool:
        if not isinstance(nonce, str) or len(nonce) != 35:
            return False
        slot = int(now // self._lifetime)
        return any(hmac.compare_digest(nonce, self._make(s)) for s in (slot, slot - 1))


class DPoPChecker:
    """Checks DPoP proofs for one verifier (see the module docstring for the rules).

    Args:
        algorithms: accepted proof ``alg`` values (a subset of :data:`DPOP_ALGORITHMS`).
        leeway: clock skew allowance in seconds (the verifier's).
        max_age: how old (by ``iat``) a proof may be, before the leeway.
        replay_store: where proof ``jti`` values are recorded (default: in-process).
        nonce: demand server nonces; ``nonce_secret`` (>= 32 bytes) shares them across
            servers, ``nonce_lifetime`` is how long one stays current (accepted twice that).
        fail_open: accept proofs when the replay store fails (default: refuse with 503).
        clock: epoch seconds.
    """

    def __init__(
        self,
        *,
        algorithms: Iterable[str] = DPOP_ALGORITHMS,
        leeway: float,
        max_age: float = 60.0,
        replay_store: ReplayStore | None = None,
        nonce: bool = False,
        nonce_secret: bytes | None = None,
        nonce_lifetime: float = 300.0,
        fail_open: bool = False,
        clock: Callable[[], float],
    ) -> None:
        algs = (algorithms,) if isinstance(algorithms, str) else tuple(dict.fromkeys(algorithms))
        unknown = [a for a in algs if a not in DPOP_ALGORITHMS]
        if not algs or unknown:
            raise ConfigurationError(
                f"Unsupported DPoP algorithms {unknown or list(algs)!r}; choose from "
                f"{', '.join(DPOP_ALGORITHMS)} (asymmetric only)."
            )
        if not (math.isfinite(max_age) and max_age > 0):
            raise ConfigurationError("dpop_max_age must be a positive number of seconds.")
        if replay_store is not None and not (
            callable(getattr(replay_store, "add", None))
            and callable(getattr(replay_store, "add_async", None))
        ):
            raise ConfigurationError(
                "replay_store needs add(key, value, ttl) and add_async(key, value, ttl) "
                "(e.g. okta_guard.redis.RedisStore)."
            )
        if nonce_secret is not None and len(nonce_secret) < 32:
            raise ConfigurationError("dpop_nonce_secret must be at least 32 random bytes.")
        if not (math.isfinite(nonce_lifetime) and nonce_lifetime >= 1):
            raise ConfigurationError("dpop_nonce_lifetime must be at least 1 second.")
        self.algorithms = algs
        self._algorithms = frozenset(algs)
        self.leeway = leeway
        self.max_age = float(max_age)
        self._clock = clock
        self.store: ReplayStore = (
            replay_store if replay_store is not None else MemoryReplayStore(clock=clock)
        )
        self._nonces = (
            _Nonces(nonce_secret or secrets.token_bytes(32), nonce_lifetime) if nonce else None
        )
        self.fail_open = fail_open
        self._keys: dict[bytes, ProofKey] = {}
        self._aths: dict[str, str] = {}

    @property
    def nonce_required(self) -> bool:
        """Whether proofs must carry a server nonce."""
        return self._nonces is not None

    def current_nonce(self, now: float | None = None) -> str | None:
        """The nonce to hand to clients now (``None`` when nonces are off)."""
        if self._nonces is None:
            return None
        return self._nonces.current(self._clock() if now is None else now)

    def check(self, proof: object, method: str, url: str, now: float) -> DPoPProof:
        """Check the proof's form, signature, ``htm``, ``htu``, ``iat`` and nonce.

        ``url`` is the request URL as the client addressed it.  Raises
        :class:`InvalidDPoPProofError` or :class:`DPoPNonceError`.
        """
        if type(proof) is not str or not proof:
            raise _refuse("dpop_missing")
        if len(proof) > _MAX_PROOF or not proof.isascii():
            raise _refuse("dpop_malformed")
        raw = proof.encode("ascii")
        parts = raw.split(b".")
        if len(parts) != 3 or not all(parts):
            raise _refuse("dpop_malformed")
        header_seg, payload_seg, signature_seg = parts
        proof_key = self._keys.get(header_seg)
        if proof_key is None:
            proof_key = _header_key(header_seg, self._algorithms)
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[header_seg] = proof_key
        try:
            signature = b64url_decode(signature_seg)
            payload = b64url_decode(payload_seg)
        except InvalidTokenError:
            raise _refuse("dpop_malformed") from None
        signing_input = raw[: len(header_seg) + len(payload_seg) + 1]
        if not signature_ok(proof_key, signing_input, signature):
            raise _refuse("dpop_signature")
        try:
            claims = parse_json_object(payload)
        except InvalidTokenError:
            raise _refuse("dpop_malformed") from None
        get = claims.get
        jti, htm, htu = get("jti"), get("htm"), get("htu")
        iat: Any = get("iat")
        if (
            type(jti) is not str
            or not 0 < len(jti) <= _MAX_JTI
            or type(htm) is not str
            or type(htu) is not str
            or type(iat) not in _NUMBERS
        ):
            raise _refuse("dpop_claims")
        if htm != method:
            raise _refuse("dpop_htm")
        if htu != url:
            normalized = normalize_htu(htu)
            if normalized is None or normalized != normalize_htu(url):
                raise _refuse("dpop_htu")
        if iat > now + self.leeway:
            raise _refuse("dpop_iat_future")
        if iat < now - self.max_age - self.leeway:
            raise _refuse("dpop_iat_stale")
        ath, nonce = get("ath"), get("nonce")
        if (ath is not None and type(ath) is not str) or (
            nonce is not None and type(nonce) is not str
        ):
            raise _refuse("dpop_claims")
        if self._nonces is not None and not self._nonces.valid(nonce, now):
            raise DPoPNonceError(self._nonces.current(now))
        return DPoPProof(proof_key.jkt, jti, ath, nonce, float(iat), proof_key.alg)

    def bind(self, proof: DPoPProof, access_token: str, claims: Mapping[str, Any]) -> None:
        """Check ``ath`` against ``access_token`` and ``cnf.jkt`` against the proof key."""
        # A client sends the same token many times: its hash is remembered (Python caches
        # a str's own hash, so the lookup costs less than SHA-256).
        expected = self._aths.get(access_token)
        if expected is None:
            expected = access_token_hash(access_token)
            if len(self._aths) >= _KEY_CACHE_SIZE:
                self._aths.clear()
            self._aths[access_token] = expected
        if proof.ath is None or not hmac.compare_digest(proof.ath, expected):
            raise _refuse("dpop_ath")
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if not isinstance(jkt, str):
            raise _refuse("dpop_unbound_token")
        if not hmac.compare_digest(jkt, proof.jkt):
            raise _refuse("dpop_jkt")

    def _replay_key(self, proof: DPoPProof) -> tuple[str, float]:
        # A short, fixed-size key per (key, jti): the store's memory stays bounded.
        digest = hashlib.blake2b(f"{proof.jkt}\x00{proof.jti}".encode(), digest_size=18)
        return "okta-guard:dpop-jti:" + digest.hexdigest(), self.max_age + 2 * self.leeway

    def _store_failed(self, exc: Exception) -> None:
        logger.error("okta-guard: the DPoP replay store failed (%s)", type(exc).__name__)
        if not self.fail_open:
            raise ReplayStoreError() from None

    def remember(self, proof: DPoPProof) -> None:
        """Record the proof's ``jti``; a second use raises ``dpop_replay`` (sync)."""
        key, ttl = self._replay_key(proof)
        try:
            added = self.store.add(key, b"1", ttl)
        except Exception as exc:
            self._store_failed(exc)
            return
        if not added:
            raise _refuse("dpop_replay")

    async def remember_async(self, proof: DPoPProof) -> None:
        """Async :meth:`remember` (for stores that do I/O)."""
        key, ttl = self._replay_key(proof)
        try:
            added = await self.store.add_async(key, b"1", ttl)
        except Exception as exc:
            self._store_failed(exc)
            return
        if not added:
            raise _refuse("dpop_replay")
