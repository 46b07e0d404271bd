"""Issuer configuration checks: what is accepted, and that every refusal says what to fix."""

from __future__ import annotations

import re

import pytest

from okta_guard.errors import ConfigurationError, OktaGuardError
from okta_guard.settings import (
    env_list,
    is_loopback_host,
    issuer_from_domain,
    issuer_from_env,
    validate_issuer,
)


@pytest.mark.parametrize(
    "issuer",
    [
        "https://dev-123456.okta.com/oauth2/default",
        "https://login.example.com/oauth2/aus1a2b3c4D5e6F7g8h9",
        "http://127.0.0.1:8080/oauth2/default",
        "http://localhost/oauth2/default",
        "http://okta.localhost/oauth2/default",
        "http://[::1]:9000/oauth2/default",
    ],
)
def test_accepts_custom_authorization_servers(issuer: str) -> None:
    assert validate_issuer(issuer) == issuer


@pytest.mark.parametrize(
    ("issuer", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" https://dev-1.okta.com/oauth2/default", "white space"),
        ("http://dev-1.okta.com/oauth2/default", "https"),
        ("https://dev-1.okta.com", "org authorization server"),
        ("https://dev-1.okta.com/oauth2", "org authorization server"),
        ("https://dev-1.okta.com/oauth2/default/v1/keys", "org authorization server"),
        ("https://dev-1.okta.com/oauth2/v1", "org server's endpoint prefix"),
        ("https://dev-1.okta.com/oauth2/default/", "ends with a slash"),
        ("https://{yourOktaDomain}/oauth2/default", "placeholder"),
        ("https://dev-1-admin.okta.com/oauth2/default", "admin"),
        ("https://dev-1.okta.com/oauth2/default?x=1", "query"),
        ("ftp://dev-1.okta.com/oauth2/default", "absolute URL"),
        ("dev-1.okta.com/oauth2/default", "absolute URL"),
    ],
)
def test_refuses_bad_issuers_with_a_fix(issuer: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_issuer(issuer)
    assert hint in info.value.description
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, OktaGuardError)


def test_admin_domain_message_names_the_right_domain() -> None:
    with pytest.raises(ConfigurationError, match=re.escape("'dev-1.okta.com'")):
        validate_issuer("https://dev-1-admin.okta.com/oauth2/default")


@pytest.mark.parametrize(
    ("domain", "server", "expected"),
    [
        ("dev-123.okta.com", "default", "https://dev-123.okta.com/oauth2/default"),
        ("https://dev-123.okta.com/", "aus1", "https://dev-123.okta.com/oauth2/aus1"),
        ("127.0.0.1:8080", "default", "http://127.0.0.1:8080/oauth2/default"),
        ("localhost", "api", "http://localhost/oauth2/api"),
    ],
)
def test_issuer_from_domain(domain: str, server: str, expected: str) -> None:
    assert issuer_from_domain(domain, server) == expected


@pytest.mark.parametrize(
    ("domain", "server"),
    [
        ("", "default"),
        ("dev 1.okta.com", "default"),
        ("dev.okta.com/x", "default"),
        ("dev.okta.com", "bad/id"),
        ("dev.okta.com", ""),
        ("dev.okta.com", "v1"),
    ],
)
def test_issuer_from_domain_refuses_garbage(domain: str, server: str) -> None:
    with pytest.raises(ConfigurationError):
        issuer_from_domain(domain, server)


def test_issuer_from_env_prefers_explicit_issuer() -> None:
    env = {"OKTA_ISSUER": "https://a.okta.com/oauth2/x", "OKTA_DOMAIN": "b.okta.com"}
    assert issuer_from_env(env) == "https://a.okta.com/oauth2/x"


def test_issuer_from_env_builds_from_domain_and_server_id() -> None:
    env = {"OKTA_DOMAIN": "b.okta.com", "OKTA_AUTH_SERVER_ID": "aus9"}
    assert issuer_from_env(env) == "https://b.okta.com/oauth2/aus9"
    assert issuer_from_env({"OKTA_DOMAIN": "b.okta.com"}) == "https://b.okta.com/oauth2/default"


def test_issuer_from_env_missing_says_which_variables() -> None:
    with pytest.raises(ConfigurationError, match="OKTA_ISSUER"):
        issuer_from_env({})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("x.localhost", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_env_list_splits_commas_and_spaces() -> None:
    assert env_list("a, b  c,,d") == ("a", "b", "c", "d")
    assert env_list("") == ()
    assert env_list(None) == ()


def test_http_is_one_rule_for_domain_and_issuer() -> None:
    # the same rule as validate_issuer: refused beyond loopback, never rewritten to https
    with pytest.raises(ConfigurationError, match="https only") as info:
        issuer_from_domain("http://dev-123.okta.com")
    assert "'dev-123.okta.com'" in info.value.description
    with pytest.raises(ConfigurationError, match="must use https"):
        validate_issuer("http://dev-123.okta.com/oauth2/default")
    assert issuer_from_domain("http://127.0.0.1:8080") == "http://127.0.0.1:8080/oauth2/default"


def test_token_verifier_refuses_the_org_server_endpoint_prefix() -> None:
    from okta_guard import TokenVerifier

    with pytest.raises(ConfigurationError, match="org authorization server"):
        TokenVerifier("https://x.okta.com/oauth2/v1", "api://default")
