"""okta-guard: protect APIs with Okta access tokens, and get service tokens to call them.

The public names are imported lazily, so that ``import okta_guard`` (and the
``okta-guard`` command) stays fast and optional pieces load only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# No handler is attached to the "okta_guard" logger on purpose: an application that
# configures logging decides where records go, and one that does not (a plain
# ``uvicorn app:app``) still sees warnings and errors, printed to stderr by Python's
# last-resort handler.  Refusal reasons are logged at DEBUG.

_EXPORTS: dict[str, str] = {
    "TokenVerifier": "okta_guard.verify.verifier",
    "MultiIssuerVerifier": "okta_guard.verify.multi",
    "IntrospectionClient": "okta_guard.call.introspection",
    "AccessToken": "okta_guard.models",
    "ServiceToken": "okta_guard.models",
    "OktaGuardMiddleware": "okta_guard.protect.middleware",
    "require_scopes": "okta_guard.protect.scopes",
    "TokenClient": "okta_guard.call.client",
    "TokenCache": "okta_guard.call.client",
    "RetrySettings": "okta_guard.call.client",
    "TokenAuth": "okta_guard.call.httpx_auth",
    "StoreSettings": "okta_guard.call.shared_policy",
    "Store": "okta_guard.store",
    "MemoryStore": "okta_guard.store",
    "VerifierStats": "okta_guard.verify.stats",
    "OktaGuardError": "okta_guard.errors",
    "InvalidTokenError": "okta_guard.errors",
    "InsufficientScopeError": "okta_guard.errors",
    "InvalidRequestError": "okta_guard.errors",
    "IssuerUnavailableError": "okta_guard.errors",
    "ConfigurationError": "okta_guard.errors",
    "TokenRequestError": "okta_guard.errors",
    "issuer_from_domain": "okta_guard.settings",
    "Verifier": "okta_guard.protect.protocol",
    "ProtectedResourceMetadata": "okta_guard.protect.metadata",
    "metadata_route": "okta_guard.protect.metadata",
    "RouteInfo": "okta_guard.protect.audit",
    "audit_routes": "okta_guard.protect.audit",
    "DPoPKey": "okta_guard.call.dpop",
    "InvalidDPoPProofError": "okta_guard.errors",
    "DPoPNonceError": "okta_guard.errors",
    "ReplayStoreError": "okta_guard.errors",
    "MemoryReplayStore": "okta_guard.verify.replay",
    "public": "okta_guard.protect.public",
}

__all__ = [
    "AccessToken",
    "ConfigurationError",
    "DPoPKey",
    "DPoPNonceError",
    "InsufficientScopeError",
    "IntrospectionClient",
    "InvalidDPoPProofError",
    "InvalidRequestError",
    "InvalidTokenError",
    "IssuerUnavailableError",
    "MemoryReplayStore",
    "MemoryStore",
    "MultiIssuerVerifier",
    "OktaGuardError",
    "OktaGuardMiddleware",
    "ProtectedResourceMetadata",
    "ReplayStoreError",
    "RetrySettings",
    "RouteInfo",
    "ServiceToken",
    "Store",
    "StoreSettings",
    "TokenAuth",
    "TokenCache",
    "TokenClient",
    "TokenRequestError",
    "TokenVerifier",
    "Verifier",
    "VerifierStats",
    "__version__",
    "audit_routes",
    "issuer_from_domain",
    "metadata_route",
    "public",
    "require_scopes",
]

if TYPE_CHECKING:
    from okta_guard.call.client import RetrySettings, TokenCache, TokenClient
    from okta_guard.call.dpop import DPoPKey
    from okta_guard.call.httpx_auth import TokenAuth
    from okta_guard.call.introspection import IntrospectionClient
    from okta_guard.call.shared_policy import StoreSettings
    from okta_guard.errors import (
        ConfigurationError,
        DPoPNonceError,
        InsufficientScopeError,
        InvalidDPoPProofError,
        InvalidRequestError,
        InvalidTokenError,
        IssuerUnavailableError,
        OktaGuardError,
        ReplayStoreError,
        TokenRequestError,
    )
    from okta_guard.models import AccessToken, ServiceToken
    from okta_guard.protect.audit import RouteInfo, audit_routes
    from okta_guard.protect.metadata import ProtectedResourceMetadata, metadata_route
    from okta_guard.protect.middleware import OktaGuardMiddleware
    from okta_guard.protect.protocol import Verifier
    from okta_guard.protect.public import public
    from okta_guard.protect.scopes import require_scopes
    from okta_guard.settings import issuer_from_domain
    from okta_guard.store import MemoryStore, Store
    from okta_guard.verify.multi import MultiIssuerVerifier
    from okta_guard.verify.replay import MemoryReplayStore
    from okta_guard.verify.stats import VerifierStats
    from okta_guard.verify.verifier import TokenVerifier


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'okta_guard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
