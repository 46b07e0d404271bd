"""Errors map onto RFC 6750; token models expose the facts an API needs and hide secrets."""

from __future__ import annotations

import datetime as dt

import pytest

import okta_guard
from okta_guard.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    IssuerUnavailableError,
    OktaGuardError,
    TokenRequestError,
)
from okta_guard.models import AccessToken, ServiceToken


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (InvalidRequestError(), 400, "invalid_request"),
        (InvalidTokenError(), 401, "invalid_token"),
        (InsufficientScopeError(["a"]), 403, "insufficient_scope"),
        (IssuerUnavailableError(), 503, "temporarily_unavailable"),
    ],
)
def test_status_and_error_codes(exc: OktaGuardError, status: int, code: str) -> None:
    assert exc.status_code == status
    assert exc.error == code
    assert exc.description
    assert isinstance(exc, OktaGuardError)


def test_reason_is_kept_apart_from_the_description() -> None:
    exc = InvalidTokenError("The access token has expired.", reason="expired")
    assert exc.reason == "expired"
    assert str(exc) == "The access token has expired."
    assert "expired" in repr(exc)


def test_insufficient_scope_lists_required_scopes() -> None:
    exc = InsufficientScopeError(["orders:read", "orders:write"])
    assert exc.required_scopes == ("orders:read", "orders:write")
    assert "orders:read orders:write" in exc.description
    assert "one of" in InsufficientScopeError(["a", "b"], any_of=True).description


def test_retry_after_is_at_least_one_second() -> None:
    assert IssuerUnavailableError(retry_after=0).retry_after == 1.0
    assert IssuerUnavailableError(retry_after=12.5).retry_after == 12.5


def test_token_request_error_takes_okta_error_code() -> None:
    exc = TokenRequestError("wrong secret", error="invalid_client", status_code=401)
    assert (exc.error, exc.status_code, exc.retryable) == ("invalid_client", 401, False)
    assert TokenRequestError().error == "token_request_failed"


def test_access_token_from_okta_claims() -> None:
    claims = {
        "ver": 1,
        "jti": "AT.x",
        "iss": "https://a/oauth2/default",
        "aud": "api://default",
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
        "cid": "svc",
        "scp": ["a", "b"],
        "sub": "svc",
        "scope": "c",
    }
    token = AccessToken.from_claims(claims)
    assert token.scopes == frozenset({"a", "b", "c"})
    assert token.client_id == "svc"
    assert token.subject == "svc"
    assert token.audience == ("api://default",)
    assert token.expires_at == dt.datetime(2027, 1, 15, 9, 0, tzinfo=dt.timezone.utc)
    assert token.expires_at.tzinfo is not None
    assert token.token_id == "AT.x"
    assert token.has_scopes("a", "c") and not token.has_scopes("a", "z")
    assert token.is_authenticated and token.display_name == "svc" == token.identity
    with pytest.raises(TypeError):
        token.claims["scp"] = []  # type: ignore[index]


def test_access_token_rfc9068_claims() -> None:
    token = AccessToken.from_claims(
        {"iss": "i", "aud": ["x", "y"], "exp": 1, "client_id": "c", "scope": "r w"}
    )
    assert token.client_id == "c"
    assert token.audience == ("x", "y")
    assert token.scopes == frozenset({"r", "w"})
    assert token.subject is None and token.display_name == "c"


def test_service_token_hides_the_token() -> None:
    expires = dt.datetime.fromtimestamp(1_800_003_600, tz=dt.timezone.utc)
    token = ServiceToken("eyJ.secret.sig", "Bearer", expires, frozenset({"a"}))
    assert "eyJ.secret.sig" not in repr(token)
    assert token.authorization == "Bearer eyJ.secret.sig"
    assert token.expires_in(1_800_000_000) == 3600


def test_package_exports_resolve_lazily() -> None:
    assert okta_guard.InvalidTokenError is InvalidTokenError
    assert okta_guard.AccessToken is AccessToken
    assert "TokenVerifier" in dir(okta_guard)
    with pytest.raises(AttributeError):
        _ = okta_guard.NoSuchThing  # type: ignore[attr-defined]
