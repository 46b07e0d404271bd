"""The Authorization parser agrees with the RFC 6750 grammar on any input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okta_guard.errors import InsufficientScopeError, InvalidRequestError, InvalidTokenError
from okta_guard.protect.bearer import bearer_token, query_has_access_token
from okta_guard.protect.challenge import challenge, quote

RFC6750 = re.compile(rb"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
TOKEN68_SCHEME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

values = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda scheme, space, token: scheme + space + token,
        st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b"Bear", b"Bearerx", b""]),
        st.sampled_from([b" ", b"  ", b"\t", b"", b" \t"]),
        st.binary(max_size=30) | st.text('AZaz09-._~+/= "\\,', max_size=30).map(str.encode),
    ),
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_parser_matches_the_grammar(value: bytes) -> None:
    match = RFC6750.fullmatch(value)
    scheme = value.partition(b" ")[0]
    if match is not None:
        assert bearer_token(value) == match.group(1).decode()
    elif scheme.lower() != b"bearer" and TOKEN68_SCHEME.fullmatch(scheme):
        assert bearer_token(value) is None
    else:
        with pytest.raises(InvalidRequestError):
            bearer_token(value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_quoted_strings_never_break_out(value: str) -> None:
    quoted = quote(value)
    inner = quoted[1:-1]
    assert quoted[0] == quoted[-1] == '"'
    assert re.fullmatch(r'(?:[^"\\\x00-\x1f\x7f]|\\["\\])*', inner)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.lists(st.text(max_size=8), max_size=3))
def test_challenges_stay_well_formed(description: str, scopes: list[str]) -> None:
    for exc in (InvalidTokenError(description or None), InsufficientScopeError(scopes)):
        value = challenge(exc, 'r"e\\alm', 'https://x/"meta"')
        assert value is not None
        assert "\r" not in value and "\n" not in value
        assert value.startswith('Bearer realm="r\\"e\\\\alm", error=')
        # every attribute value is a closed quoted-string
        assert re.fullmatch(r'Bearer (\w+="(?:[^"\\]|\\.)*")(, \w+="(?:[^"\\]|\\.)*")*', value)


def test_query_detection() -> None:
    assert query_has_access_token(b"access_token=x")
    assert query_has_access_token(b"a=1&access_token")
    assert query_has_access_token(b"access%5ftoken=1")
    assert query_has_access_token(b"access+token=1") is False
    assert query_has_access_token(b"") is False
    assert query_has_access_token(b"q=%20") is False
