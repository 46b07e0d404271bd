"""Faults that misbehave in the body: drip, stall, compression bombs, patched key sets.

Each is checked on the loopback server (a real socket) and on the in-process
httpx transport, which must behave the same to a client.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from okta_guard.testing import OMIT, MockIssuer
from okta_guard.testing.bodyfaults import bomb_body

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "orders:read"}


@pytest.fixture
def served() -> Iterator[MockIssuer]:
    with MockIssuer() as okta:
        okta.register_client("svc", "s3cret", scopes=["orders:read"])
        yield okta


@pytest.fixture
def in_process() -> Iterator[MockIssuer]:
    okta = MockIssuer()
    okta.register_client("svc", "s3cret", scopes=["orders:read"])
    yield okta
    okta.close()


def _client(okta: MockIssuer, timeout: float = 5.0) -> httpx.Client:
    if okta.running:
        return httpx.Client(timeout=timeout, trust_env=False)
    return httpx.Client(transport=okta.transport, timeout=timeout)


@pytest.fixture(params=["loopback", "in-process"])
def okta(request: pytest.FixtureRequest) -> MockIssuer:
    name = "served" if request.param == "loopback" else "in_process"
    issuer: MockIssuer = request.getfixturevalue(name)
    return issuer


# -- drip --------------------------------------------------------------------------


def test_drip_sends_full_content_length_then_one_byte_at_a_time(okta: MockIssuer) -> None:
    okta.fail_next("keys", drip=0.02)
    expected = json.dumps(okta.jwks(), separators=(",", ":")).encode()
    with _client(okta, timeout=1.0) as client, client.stream("GET", okta.jwks_uri) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(expected))
        started = time.monotonic()
        chunks = []
        for chunk in response.iter_raw():
            chunks.append(chunk)
            if len(chunks) == 5:
                break
    assert [len(c) for c in chunks] == [1] * 5  # each read gets one byte
    assert b"".join(chunks) == expected[:5]
    assert time.monotonic() - started >= 4 * 0.02  # the mock waited between bytes
    with _client(okta) as client:  # the next request is answered normally
        assert client.get(okta.jwks_uri).json() == okta.jwks()


def test_drip_outlives_the_read_timeout_of_each_byte(okta: MockIssuer) -> None:
    # the defect this fault finds: a read timeout bounds each read, not the request
    okta.fail_next("token", status=200, body=b"0123456789", drip=0.03)
    started = time.monotonic()
    with _client(okta, timeout=0.2) as client:
        response = client.post(okta.token_url, data=TOKEN_FORM, auth=("svc", "s3cret"))
    assert response.content == b"0123456789"
    assert time.monotonic() - started >= 9 * 0.03 > 0.2


def test_drip_slower_than_the_read_timeout_times_out(okta: MockIssuer) -> None:
    okta.fail_next("keys", drip=1.0)
    with _client(okta, timeout=0.1) as client, pytest.raises(httpx.ReadTimeout):
        client.get(okta.jwks_uri)
    with _client(okta) as client:
        assert client.get(okta.jwks_uri).status_code == 200


async def test_drip_in_process_async(in_process: MockIssuer) -> None:
    in_process.fail_next("keys", status=503, body={"oops": 1}, drip=0.001)
    async with in_process.async_http_client(timeout=1.0) as client:
        response = await client.get(in_process.jwks_uri)
    assert (response.status_code, response.json()) == (503, {"oops": 1})


# -- stall -------------------------------------------------------------------------


def test_stall_sends_headers_then_nothing(okta: MockIssuer) -> None:
    okta.fail_next("keys", stall=True)
    with _client(okta, timeout=0.2) as client:
        with client.stream("GET", okta.jwks_uri) as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) > 0
            with pytest.raises(httpx.ReadTimeout):
                response.read()
        assert client.get(okta.jwks_uri).status_code == 200  # a new connection works


async def test_stall_in_process_async_times_out(in_process: MockIssuer) -> None:
    in_process.fail_next("token", stall=True)
    async with in_process.async_http_client(timeout=0.1) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(in_process.token_url, data=TOKEN_FORM, auth=("svc", "s3cret"))


def test_stall_without_timeout_ends_when_the_mock_closes() -> None:
    okta = MockIssuer()
    okta.fail_next("keys", stall=True)
    client = httpx.Client(transport=okta.transport, timeout=None)
    with client, client.stream("GET", okta.jwks_uri) as response:
        okta.close()
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()


def test_server_stop_ends_a_stall_promptly() -> None:
    okta = MockIssuer().start()
    okta.fail_next("keys", stall=True)
    client = httpx.Client(timeout=5.0, trust_env=False)
    with client, client.stream("GET", okta.jwks_uri) as response:
        started = time.monotonic()
        okta.close()
        with pytest.raises(httpx.HTTPError):
            response.read()
    assert time.monotonic() - started < 3.0


# -- compression bombs ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_is_small_on_the_wire_and_inflates_to_n_bytes(okta: MockIssuer, encoding: str) -> None:
    size = 20_000_000
    okta.fail_next("keys", bomb=size, encoding=encoding)
    with _client(okta) as client, client.stream("GET", okta.jwks_uri) as response:
        assert response.headers["content-encoding"] == encoding
        wire = int(response.headers["content-length"])
        decoded = response.read()
    assert wire < 40_000 < size
    assert len(decoded) == size
    assert json.loads(decoded) == okta.jwks()  # the real answer padded with whitespace


def test_bomb_is_not_inflated_before_the_client_reads(in_process: MockIssuer) -> None:
    in_process.fail_next("keys", bomb=50_000_000)
    with in_process.http_client() as client, client.stream("GET", in_process.jwks_uri) as response:
        first = next(response.iter_bytes(chunk_size=65536))
        assert len(first) <= 1 << 20  # streamed: the client can stop here
        assert response.num_bytes_downloaded < 100_000


def test_bomb_bodies_are_valid_streams() -> None:
    assert gzip.decompress(bomb_body(b"{}", 3_000_000, "gzip")) == b"{}" + b" " * 2_999_998
    assert zlib.decompress(bomb_body(b"[1]", 1_048_579, "deflate")) == b"[1]" + b" " * 1_048_576
    assert gzip.decompress(bomb_body(b"abc", 0, "gzip")) == b"abc"


def test_bomb_on_an_error_answer(in_process: MockIssuer) -> None:
    in_process.fail_next("token", status=503, bomb=1_000_000, encoding="deflate")
    with in_process.http_client() as client:
        response = client.post(in_process.token_url, data=TOKEN_FORM, auth=("svc", "s3cret"))
    assert response.status_code == 503
    assert len(response.content) == 1_000_000
    assert response.json()["errorCode"] == "E0000009"


# -- patched key sets and empty key sets ---------------------------------------------


def test_keys_patch_merges_members_into_every_key(okta: MockIssuer) -> None:
    okta.fail_next("keys", keys_patch={"use": "enc", "alg": OMIT}, times=2)
    with _client(okta) as client:
        patched = [client.get(okta.jwks_uri).json() for _ in range(2)]
        normal = client.get(okta.jwks_uri).json()
    for document in patched:
        assert len(document["keys"]) >= 2
        assert all(k["use"] == "enc" and "alg" not in k for k in document["keys"])
        assert [k["kid"] for k in document["keys"]] == [k["kid"] for k in normal["keys"]]
    assert all(k["use"] == "sig" and k["alg"] == "RS256" for k in normal["keys"])


def test_keys_patch_in_an_outage_on_every_endpoint(in_process: MockIssuer) -> None:
    with in_process.outage("*", keys_patch={"alg": "RS512"}), in_process.http_client() as client:
        keys = client.get(in_process.jwks_uri).json()["keys"]
        metadata = client.get(in_process.metadata_url)
    assert {k["alg"] for k in keys} == {"RS512"}
    assert metadata.status_code == 200  # only /v1/keys answers are patched


def test_keys_patch_leaves_odd_bodies_alone(in_process: MockIssuer) -> None:
    in_process.fail_next("keys", status=200, body=b"not json", keys_patch={"use": "enc"})
    in_process.fail_next("keys", status=200, body={"keys": [1, {}]}, keys_patch={"use": "enc"})
    with in_process.http_client() as client:
        assert client.get(in_process.jwks_uri).content == b"not json"
        assert client.get(in_process.jwks_uri).json() == {"keys": [1, {"use": "enc"}]}


def test_empty_key_set_through_body(okta: MockIssuer) -> None:
    okta.fail_next("keys", status=200, body={"keys": []})
    with _client(okta) as client:
        assert client.get(okta.jwks_uri).json() == {"keys": []}


def test_body_faults_keep_the_normal_status_unless_given(in_process: MockIssuer) -> None:
    in_process.fail_next("keys", drip=0.001, headers={"Cache-Control": "max-age=5"})
    in_process.fail_next("keys", 500, drip=0.001)
    with in_process.http_client() as client:
        first = client.get(in_process.jwks_uri)
        second = client.get(in_process.jwks_uri)
    assert first.status_code == 200 and first.headers["cache-control"] == "max-age=5"
    assert second.status_code == 500


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drip": 0.1, "stall": True},
        {"stall": True, "disconnect": True},
        {"drip": -1.0},
        {"bomb": -1},
        {"bomb": 10, "encoding": "br"},
        {"keys_patch": {"use": "enc"}, "endpoint": "token"},
    ],
)
def test_impossible_body_faults_are_refused(in_process: MockIssuer, kwargs: dict) -> None:
    endpoint = kwargs.pop("endpoint", "keys")
    with pytest.raises(ValueError, match=r"choose one|>= 0|bomb|encoding|keys_patch"):
        in_process.fail_next(endpoint, **kwargs)
    assert in_process._faults.pending() == 0


# -- the ASGI shell ------------------------------------------------------------------


async def _asgi_call(okta: MockIssuer, path: str) -> list[dict[str, Any]]:
    """Call the ASGI app directly; the client hangs up once the request is sent."""
    sent: list[dict[str, Any]] = []
    inbox = [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    await okta.app(scope, receive, send)
    return sent


async def test_asgi_drip_and_stall(in_process: MockIssuer) -> None:
    in_process.fail_next("keys", status=200, body=b"abc", drip=0.001)
    in_process.fail_next("keys", stall=True)
    dripped = await _asgi_call(in_process, "/oauth2/default/v1/keys")
    stalled = await _asgi_call(in_process, "/oauth2/default/v1/keys")
    assert dripped[0]["type"] == "http.response.start"
    assert (b"content-length", b"3") in dripped[0]["headers"]
    assert [m["body"] for m in dripped[1:]] == [b"a", b"b", b"c", b""]
    assert [m["type"] for m in stalled] == ["http.response.start"]  # then only the hang-up
