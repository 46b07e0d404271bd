"""TokenVerifier: decide, fast and fail-closed, whether an Okta access token is good.

Order of work for a token never seen before: size cap, strict compact-JWS
structure and header (:mod:`okta_guard.verify.jws`), ``typ``, the key for its ``kid``
from the key cache (:mod:`okta_guard.verify.key_cache`), the RSA signature, and only then
the claims (:mod:`okta_guard.verify.claims`).  Accepted tokens go to a bounded cache
(:mod:`okta_guard.verify.verdict_cache`); a repeated token costs one dictionary lookup
plus a time and key check.

Whatever the input, only :class:`~okta_guard.errors.OktaGuardError`
subclasses leave :meth:`TokenVerifier.verify`: ``InvalidTokenError`` (401,
with a stable ``reason``) or ``IssuerUnavailableError`` (503) when no usable key
is cached and the issuer cannot be reached.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from okta_guard import telemetry
from okta_guard.errors import ConfigurationError, InvalidTokenError, OktaGuardError
from okta_guard.models import AccessToken
from okta_guard.settings import issuer_from_domain
from okta_guard.settings import validate_issuer as _validate_issuer
from okta_guard.verify.bound import BoundTokenCache, DPoPVerification
from okta_guard.verify.claims import check_claims
from okta_guard.verify.dpop import DPOP_ALGORITHMS, DPOP_MODES, DPoPChecker, DPoPMode
from okta_guard.verify.introspecting import IntrospectionVerification
from okta_guard.verify.introspection import Introspector
from okta_guard.verify.jws import (
    SUPPORTED_ALGORITHMS,
    CheckedHeader,
    ParsedToken,
    decode_payload,
    reject,
    verify_signature,
)
from okta_guard.verify.key_cache import KeyCache
from okta_guard.verify.keyset import KeyEntry
from okta_guard.verify.options import (
    audiences_of,
    checked_algorithms,
    checked_jwks_uri,
    checked_origin,
    claim_rules,
    key_policy_config,
    options_from_env,
    positive_seconds,
)
from okta_guard.verify.replay import ReplayStore
from okta_guard.verify.revocation import AnswerStore
from okta_guard.verify.stats import VerifierStats
from okta_guard.verify.verdict_cache import VerifiedTokenCache

__all__ = ["TokenVerifier"]

logger = logging.getLogger("okta_guard.verify.verifier")


def _bearer_refused() -> InvalidTokenError:
    return InvalidTokenError(
        "This API accepts only DPoP-bound tokens: send 'Authorization: DPoP <token>' "
        "with a DPoP proof.",
        reason="dpop_required",
    )


class TokenVerifier(DPoPVerification, IntrospectionVerification):
    """Verifies access tokens of one Okta custom authorization server.

    ``TokenVerifier(issuer, audience)`` is enough; keys are discovered and
    fetched on first use (or at start-up with :meth:`prewarm`).  ``audience``
    is one string or several (a token must name at least one).  Options:

    * ``leeway``: clock skew allowance in seconds for ``exp``/``nbf``/``iat``.
    * ``client_ids``: allowed ``cid`` / ``client_id`` values (``None``: any).
    * ``jwks_uri``: use this key set URL and skip discovery.
    * ``jwks_cooldown``: minimum seconds between refetches caused by unknown kids.
    * ``max_stale``: how long past its time to live a key set may still be used
      while the issuer cannot be reached.
    * ``algorithms``: allowed ``alg`` values (RS256/RS384/RS512; RS256 only by default).
    * ``required_claims``: extra claims that must be present.
    * ``max_token_lifetime``: refuse tokens living longer (``exp - iat``) than this.
    * ``max_token_size``: refuse longer tokens before parsing (8 KiB).
    * ``strict_rfc9068``: ``typ`` must be ``at+jwt``; ``jti``, ``sub``, ``iat`` and
      ``client_id`` are required.
    * ``token_cache_size``: how many verified tokens to remember (0 disables).
    * ``introspection``: an introspection client (e.g. :class:`~okta_guard.IntrospectionClient`)
      for routes that opt in (``require_scopes(..., introspect=True)``), or for every
      verification with ``introspect_all=True``; answers are cached
      ``introspection_cache_ttl`` seconds (never beyond ``exp``) in ``introspection_store``;
      ``introspection_fallback`` seconds of the last answer may serve while Okta is down
      (default 0: 503).  See :mod:`okta_guard.verify.revocation`.
    * ``timeout``: each network step (connect, each read) of a key or discovery request.
    * ``fetch_deadline``: the total bound, in seconds, of a key set fetch (discovery
      included) and of every wait for one: a caller waiting on Okta gets
      :class:`~okta_guard.errors.IssuerUnavailableError` (503) by then, whatever the
      network does (10 s by default).
    * ``clock``, ``http_client``, ``async_http_client``: injectable for tests
      and for sharing connection pools; clients given here are never closed by us.

    DPoP (RFC 9449, see ``docs/dpop.md``):

    * ``dpop``: ``"allowed"`` (Bearer tokens, and DPoP-bound tokens with proofs),
      ``"required"`` (DPoP only: :meth:`verify` refuses every token) or ``"disabled"``.
    * ``replay_store``: where proof ``jti`` values are recorded (``add``/``add_async``;
      default in-process); a failing store answers 503 unless ``dpop_fail_open``.
    * ``dpop_algorithms``: accepted proof algorithms (asymmetric only).
    * ``dpop_max_age``: how old a proof may be (plus ``leeway``).
    * ``dpop_nonce``: demand server nonces (401 ``use_dpop_nonce`` + ``DPoP-Nonce``);
      ``dpop_nonce_secret`` shares them between servers, ``dpop_nonce_lifetime`` rotates them.
    * ``dpop_origin``: the external origin (``https://api.example.com``) that proofs'
      ``htu`` name, when the app runs behind a proxy that changes scheme, host or port.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Iterable[str],
        *,
        leeway: float = 60.0,
        client_ids: Iterable[str] | None = None,
        jwks_uri: str | None = None,
        jwks_cooldown: float = 30.0,
        max_stale: float = 86400.0,
        clock: Callable[[], float] = time.time,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        algorithms: Iterable[str] = ("RS256",),
        required_claims: Iterable[str] = (),
        max_token_lifetime: float | None = None,
        max_token_size: int = 8192,
        strict_rfc9068: bool = False,
        token_cache_size: int = 4096,
        timeout: float = 5.0,
        fetch_deadline: float = 10.0,
        min_key_ttl: float = 300.0,
        max_key_ttl: float = 86400.0,
        rand: Callable[[], float] = random.random,
        dpop: DPoPMode = "allowed",
        replay_store: ReplayStore | None = None,
        dpop_algorithms: Iterable[str] = DPOP_ALGORITHMS,
        dpop_max_age: float = 60.0,
        dpop_nonce: bool = False,
        dpop_nonce_secret: bytes | None = None,
        dpop_nonce_lifetime: float = 300.0,
        dpop_origin: str | None = None,
        dpop_fail_open: bool = False,
        introspection: Introspector | None = None,
        introspect_all: bool = False,
        introspection_cache_ttl: float = 30.0,
        introspection_fallback: float = 0.0,
        introspection_store: AnswerStore | None = None,
    ) -> None:
        self._issuer = _validate_issuer(issuer)
        if dpop not in DPOP_MODES:
            raise ConfigurationError(
                f"dpop={dpop!r}: use 'allowed' (Bearer and DPoP), 'required' or 'disabled'."
            )
        self._dpop_mode = dpop
        self._dpop_origin = checked_origin(dpop_origin) if dpop_origin is not None else None
        self._audience: str | tuple[str, ...] = (
            audience if isinstance(audience, str) else audiences_of(audience)
        )
        self._algorithms = checked_algorithms(algorithms, SUPPORTED_ALGORITHMS)
        if not isinstance(max_token_size, int) or max_token_size < 256:
            raise ConfigurationError("max_token_size must be an integer of at least 256 bytes.")
        if not isinstance(token_cache_size, int) or token_cache_size < 0:
            raise ConfigurationError("token_cache_size must be a non-negative integer.")
        self._rules = claim_rules(
            self._issuer,
            audience,
            leeway=leeway,
            client_ids=client_ids,
            required_claims=required_claims,
            max_token_lifetime=max_token_lifetime,
            strict_rfc9068=strict_rfc9068,
        )
        self._max_token_size = max_token_size
        self._clock = clock
        self._bound = BoundTokenCache(token_cache_size)
        self._dpop = DPoPChecker(
            algorithms=dpop_algorithms,
            leeway=self._rules.leeway,
            max_age=dpop_max_age,
            replay_store=replay_store,
            nonce=dpop_nonce,
            nonce_secret=dpop_nonce_secret,
            nonce_lifetime=dpop_nonce_lifetime,
            fail_open=dpop_fail_open,
            clock=clock,
        )
        self._headers: dict[bytes, CheckedHeader] = {}
        fetch_timeout = positive_seconds("timeout", timeout, allow_zero=False)
        config = key_policy_config(
            fetch_deadline=fetch_deadline,
            jwks_cooldown=jwks_cooldown,
            max_stale=max_stale,
            min_key_ttl=min_key_ttl,
            max_key_ttl=max_key_ttl,
        )
        self._keys = KeyCache(
            self._issuer,
            jwks_uri=checked_jwks_uri(jwks_uri) if jwks_uri is not None else None,
            algorithms=self._algorithms,
            config=config,
            clock=clock,
            http_client=http_client,
            async_http_client=async_http_client,
            timeout=fetch_timeout,
            on_keys_removed=self._keys_removed,
            rand=rand,
        )
        self._leeway = self._rules.leeway
        self._current_key = self._keys.current
        self._tokens = VerifiedTokenCache(
            token_cache_size,
            leeway=self._leeway,
            current_key=self._current_key,
            clock=clock,
        )
        self._strict = self._rules.strict_rfc9068
        # Hot-path counters are plain integers (a lock would cost more than the cache hit);
        # under heavy thread contention they may undercount slightly.  Rejections are rarer
        # and counted exactly.  Bearer hits are counted by the verdict cache itself.
        self._hits = 0  # DPoP-bound verdicts
        self._accepted = 0
        self._verdicts: Counter[str] = Counter()
        self._statuses: dict[str, int] = {}  # reason -> HTTP status (a small, fixed set)
        self._count_lock = threading.Lock()
        telemetry.watch_verifier(self)
        self._setup_introspection(
            introspection,
            introspect_all=introspect_all,
            cache_ttl=introspection_cache_ttl,
            fallback=introspection_fallback,
            store=introspection_store,
            max_wait=3 * fetch_timeout + 5.0,
        )
        if self._introspect_all is not None:
            # Every verdict needs the server's answer: no synchronous cached shortcut.
            self.verify_cached = self._no_cached_verdict  # type: ignore[method-assign]
        else:
            # verify_cached is the cache's own lookup: one Python call less per cached
            # request (0.04-0.06 us of the middleware's 1.4 us, measured on it alone).
            self.verify_cached = self._tokens.lookup  # type: ignore[method-assign]

    # -- construction helpers ------------------------------------------------------------

    @classmethod
    def from_domain(
        cls,
        domain: str,
        audience: str | Iterable[str],
        auth_server_id: str = "default",
        **options: Any,
    ) -> TokenVerifier:
        """Build from the Okta domain ("Tenant ID", e.g. ``dev-123456.okta.com``)."""
        return cls(issuer_from_domain(domain, auth_server_id), audience, **options)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **options: Any) -> TokenVerifier:
        """Build from ``OKTA_ISSUER`` (or ``OKTA_DOMAIN`` + ``OKTA_AUTH_SERVER_ID``),
        ``OKTA_AUDIENCE`` and optionally ``OKTA_CLIENT_IDS`` (comma separated).

        Keyword ``options`` are passed on and win over the environment.
        """
        issuer, audience, options = options_from_env(os.environ if env is None else env, options)
        return cls(issuer, audience, **options)

    # -- public properties -----------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The configured issuer (compared exactly with ``iss``)."""
        return self._issuer

    @property
    def audience(self) -> str | tuple[str, ...]:
        """The configured audience (a string, or a tuple when several were given)."""
        return self._audience

    @property
    def max_token_size(self) -> int:
        """Longest token accepted (longer ones are refused before parsing)."""
        return self._max_token_size

    @property
    def algorithms(self) -> frozenset[str]:
        """The allowed ``alg`` values."""
        return self._algorithms

    @property
    def reason_statuses(self) -> dict[str, int]:
        """The HTTP status of each refusal reason seen so far (for telemetry)."""
        with self._count_lock:
            return dict(self._statuses)

    @property
    def key_cache(self) -> KeyCache:
        """The key cache (for diagnostics; its API is not part of the stable contract)."""
        return self._keys

    @property
    def stats(self) -> VerifierStats:
        """A snapshot of the counters."""
        with self._count_lock:
            refusals = dict(self._verdicts)
        return VerifierStats.collect(
            self._keys.policy,
            refusals,
            hits=self._hits + self._tokens.hits,
            accepted=self._accepted,
            cached_tokens=len(self._tokens),
            jwks_uri=self._keys.jwks_uri,
        )

    def __repr__(self) -> str:
        return f"TokenVerifier(issuer={self._issuer!r}, audience={self._audience!r})"

    # -- verification --------------------------------------------------------------------

    def _finish(self, token: str, parsed: ParsedToken, entry: KeyEntry, now: float) -> AccessToken:
        """Check the signature with ``entry``, then the claims at ``now``; cache the verdict."""
        if entry.alg is not None and entry.alg != parsed.alg:
            raise reject("alg_not_allowed")
        # The payload is decoded (not trusted) while the token is still hot in the CPU caches;
        # a decoding error is reported only after the signature, so a forgery always gets the
        # same answer whatever its payload.
        try:
            claims: dict[str, Any] | None = decode_payload(parsed)
        except InvalidTokenError:
            claims = None
        if not verify_signature(parsed, entry.key, entry.signature_size):
            raise reject("bad_signature")
        if claims is None:
            raise reject("malformed")
        result, exp, nbf = check_claims(claims, self._rules, now)
        self._tokens.put(self._tokens.verdict(token, result, exp, nbf, entry))
        self._accepted += 1
        return result

    def _failed(self, exc: Exception) -> OktaGuardError:
        if isinstance(exc, OktaGuardError):
            error = exc
            if isinstance(exc, InvalidTokenError):
                logger.debug("okta-guard: token rejected (%s)", exc.reason)
        else:
            # A bug, not an attack we know: fail closed, and never log the token.
            logger.error("okta-guard: unexpected %s while verifying a token", type(exc).__name__)
            error = InvalidTokenError(reason="internal_error")
        with self._count_lock:
            self._verdicts[error.reason] += 1
            self._statuses[error.reason] = error.status_code
        return error

    def verify(self, token: str) -> AccessToken:
        """Verify ``token`` (the bare JWT, without ``Bearer``) and return its :class:`AccessToken`.

        Raises :class:`~okta_guard.errors.InvalidTokenError` or
        :class:`~okta_guard.errors.IssuerUnavailableError`; nothing else.
        """
        try:
            if self._dpop_mode == "required":
                raise _bearer_refused()
            now = self._clock()
            result = self._tokens.lookup(token, now) if type(token) is str else None
            if result is None:
                parsed = self._parsed(token)
                entry = self._keys.fresh(parsed.kid, now)
                if entry is None:
                    entry = self._keys.get_key(parsed.kid)
                    now = self._clock()  # a fetch may have taken a while
                result = self._finish(token, parsed, entry, now)
            if self._introspect_all is not None:
                return self._introspect_all.check(token, result)
            return result
        except Exception as exc:
            raise self._failed(exc) from None

    async def verify_async(self, token: str) -> AccessToken:
        """Like :meth:`verify`, but waits for key fetches without blocking the event loop."""
        try:
            if self._dpop_mode == "required":
                raise _bearer_refused()
            now = self._clock()
            result = self._tokens.lookup(token, now) if type(token) is str else None
            if result is None:
                parsed = self._parsed(token)
                entry = self._keys.fresh(parsed.kid, now)
                if entry is None:
                    entry = await self._keys.get_key_async(parsed.kid)
                    now = self._clock()  # a fetch may have taken a while
                result = self._finish(token, parsed, entry, now)
            if self._introspect_all is not None:
                return await self._introspect_all.check_async(token, result)
            return result
        except Exception as exc:
            raise self._failed(exc) from None

    def verify_cached(self, token: str | bytes) -> AccessToken | None:
        """The :class:`AccessToken` of a token accepted before, if that verdict still holds.

        ``token`` is the bare token as a string, or the bytes of the ``Authorization``
        header value ``Bearer <token>`` (the middleware's form; the bare token's bytes are
        accepted too).  Still holds means: cached, not expired, past its ``nbf``, and its
        key still the current key for its ``kid``.  No parsing, no I/O, no counting of
        misses, never raises: ``None`` only means "ask :meth:`verify` or
        :meth:`verify_async`", which give the precise answer.  The middleware's hot path
        for a repeated token.
        """
        return self._tokens.lookup(token)

    def _keys_removed(self, kids: frozenset[str]) -> None:
        dropped = self._tokens.purge_kids(kids) + self._bound.purge_kids(kids)
        logger.info(
            "okta-guard: %d signing key(s) left the key set of %s; %d cached token(s) dropped",
            len(kids),
            self._issuer,
            dropped,
        )

    # -- life cycle ----------------------------------------------------------------------

    def prewarm(self) -> None:
        """Fetch the signing keys now (e.g. at start-up).

        Raises :class:`~okta_guard.errors.IssuerUnavailableError` if they cannot be fetched.
        """
        self._keys.prewarm()

    async def prewarm_async(self) -> None:
        """Fetch the signing keys now without blocking the event loop; raise on failure."""
        await self._keys.prewarm_async()

    def clear_cache(self) -> None:
        """Forget every verified token (keys stay cached)."""
        self._tokens.clear()
        self._bound.clear()

    def close(self) -> None:
        """Close the HTTP client the verifier created itself."""
        self._keys.close()

    async def aclose(self) -> None:
        """Stop background key refreshes on this loop and close owned clients."""
        await self._keys.aclose()

    def __enter__(self) -> TokenVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> TokenVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
