"""Hardening of the key fetch (issue 10 defects 2, 3, 4, 6; issue 14's 404 diagnosis).

Each test here failed before its fix: odd key-set answers stuck for a day, an empty set
emptied the cache, waiters had no deadline, a compressed bomb inflated in memory, a
404 looked like an outage.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import socket
import threading
import time
import zlib
from collections.abc import Generator

import httpx
import pytest

from okta_guard._flight import Flight
from okta_guard._http import DEFAULT_MAX_BYTES, Decoder, send_async, send_sync
from okta_guard._sansio import Deadline, HttpRequest, HttpResponse, drive_async
from okta_guard.errors import InvalidTokenError, IssuerUnavailableError
from okta_guard.testing import FakeClock
from tests.support.verifier_helpers import NOW, JwksEndpoint, jwk, token, verifier

# -- defect 3: an odd answer must not outlive the key set's time to live -------------------


@pytest.mark.parametrize(
    ("odd_keys", "reason"),
    [
        ([jwk("a", "kid-a", use="enc"), jwk("b", "kid-b")], "unusable_key"),
        ([jwk("a", "kid-a", alg="RS512"), jwk("b", "kid-b")], "unusable_key"),
        ([jwk("a", "kid-a"), jwk("a", "kid-a"), jwk("b", "kid-b")], "ambiguous_kid"),
    ],
    ids=["use-enc", "other-alg", "duplicate-kid"],
)
def test_an_odd_answer_lasts_only_until_the_key_sets_ttl(
    odd_keys: list[dict[str, object]], reason: str
) -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint(cache_control="max-age=600")
    v = verifier(endpoint, clock)
    v.verify(token())
    clock.advance(600)  # due: the next lookup refreshes (inline, for a sync caller)
    endpoint.keys = odd_keys
    with pytest.raises(InvalidTokenError) as info:
        v.verify(token(claims_exp()))
    assert info.value.reason == reason
    clock.advance(60)  # within the odd set's time to live: no refetch, the same answer
    with pytest.raises(InvalidTokenError):
        v.verify(token(claims_exp(jti="other")))
    assert endpoint.key_fetches == 2
    endpoint.keys = [jwk("a", "kid-a"), jwk("b", "kid-b")]  # the very next answer is good
    clock.advance(600)  # the odd set's own time to live has run out: refetch, accept
    assert v.verify(token(claims_exp(jti="third"))).subject == "svc"
    assert endpoint.key_fetches == 3


def claims_exp(**overrides: object) -> dict[str, object]:
    from tests.support.verifier_helpers import claims

    return claims(exp=int(NOW) + 86400, **overrides)


# -- defect 4: an empty or wholly unusable set is a failed refresh ---------------------------


@pytest.mark.parametrize("keys", [[], [{}], [jwk("a", "kid-a", use="enc")]])
def test_empty_key_set_keeps_the_last_good_keys(
    keys: list[dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(NOW)
    endpoint = JwksEndpoint()
    v = verifier(endpoint, clock)
    v.verify(token())
    clock.advance(3600)
    endpoint.keys = keys
    with caplog.at_level(logging.ERROR, "okta_guard"):
        assert v.verify(token(claims_exp())).subject == "svc"
    assert endpoint.key_fetches == 2
    assert v.key_cache.policy.fetch_failures == 1
    assert "holds no usable signing key" in caplog.text
    assert caplog.records[-1].levelno == logging.ERROR


# -- defect 2: every waiter has a deadline ---------------------------------------------------


def test_sync_waiter_gives_up_at_its_deadline() -> None:
    flight: Flight[int] = Flight()
    assert flight.wait(0.01) is False
    flight.finish(1)
    assert flight.wait(0.01) is True
    assert flight.result == 1


async def test_async_waiter_gives_up_at_its_deadline() -> None:
    flight: Flight[int] = Flight()
    assert await flight.wait_async(0.01) is False
    threading.Thread(target=flight.finish, args=(2,)).start()
    assert await flight.wait_async(5) is True
    assert flight.result == 2


def test_a_waiter_behind_a_stuck_fetch_gets_503_by_the_deadline() -> None:
    entered = threading.Event()
    release = threading.Event()
    endpoint = JwksEndpoint(on_keys=lambda: (entered.set(), release.wait(10)))
    v = verifier(
        endpoint, fetch_deadline=0.3, jwks_uri="https://okta.example.com/oauth2/default/v1/keys"
    )
    leader_errors: list[BaseException] = []

    def lead() -> None:
        try:
            v.verify(token())
        except IssuerUnavailableError as exc:  # its own deadline passes too
            leader_errors.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    assert entered.wait(5)
    try:
        with pytest.raises(IssuerUnavailableError) as info:
            v.verify(token())  # joins the flight, waits 0.3 s at most
        assert info.value.reason == "deadline"
    finally:
        release.set()
        leader.join(10)


def test_fetch_deadline_is_checked() -> None:
    from okta_guard.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="fetch_deadline"):
        verifier(fetch_deadline=0)


# -- defect 6: the decoded size is capped while streaming ------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_decoder_caps_the_inflated_size(encoding: str) -> None:
    payload = b"0" * (50 * 1024 * 1024)
    if encoding == "gzip":
        body = gzip.compress(payload)
    elif encoding == "deflate":
        body = zlib.compress(payload)
    else:
        squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = squeeze.compress(payload) + squeeze.flush()
    decoder = Decoder("deflate" if "deflate" in encoding else "gzip", 1024 * 1024)
    from okta_guard._http import BodyTooLarge

    chunks = [body[start : start + 16384] for start in range(0, len(body), 16384)]
    with pytest.raises(BodyTooLarge):
        any(decoder.feed(chunk) for chunk in chunks)
    assert decoder.size <= 1024 * 1024 + 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decoder_decodes_small_bodies(encoding: str) -> None:
    body = gzip.compress(b'{"keys": []}') if encoding == "gzip" else zlib.compress(b"{}")
    decoder = Decoder(encoding, 1024)
    for byte in range(len(body)):
        decoder.feed(body[byte : byte + 1])  # one byte at a time, the header split too
    assert decoder.body() in (b'{"keys": []}', b"{}")


def test_decoder_refuses_unknown_and_corrupt_encodings() -> None:
    from okta_guard._http import BadEncoding

    with pytest.raises(BadEncoding):
        Decoder("br", 1024)
    decoder = Decoder("gzip", 1024)
    with pytest.raises(BadEncoding):
        decoder.feed(b"not gzip at all")


def _bomb_transport(encoding: str) -> httpx.MockTransport:
    body = gzip.compress(b"0" * (20 * 1024 * 1024))
    if encoding == "deflate":
        body = zlib.compress(b"0" * (20 * 1024 * 1024))

    def handler(request: httpx.Request) -> httpx.Response:
        stream = httpx.ByteStream(body)
        return httpx.Response(200, headers={"Content-Encoding": encoding}, stream=stream)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_sync_shell_refuses_a_bomb(encoding: str) -> None:
    client = httpx.Client(transport=_bomb_transport(encoding))
    answer = send_sync(client, HttpRequest("https://x.example/keys"), Deadline(5))
    assert answer.error == "too_large"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_async_shell_refuses_a_bomb(encoding: str) -> None:
    async with httpx.AsyncClient(transport=_bomb_transport(encoding)) as client:
        answer = await send_async(client, HttpRequest("https://x.example/keys"), Deadline(5))
    assert answer.error == "too_large"


def test_a_large_error_page_keeps_its_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, stream=httpx.ByteStream(b"x" * (DEFAULT_MAX_BYTES + 10)))

    client = httpx.Client(transport=httpx.MockTransport(handler))
    answer = send_sync(client, HttpRequest("https://x.example/keys"), Deadline(5))
    assert (answer.status, answer.error, answer.body) == (404, None, b"")


# -- issue 14: a 404 is a configuration error naming the URL ---------------------------------


def test_a_404_for_the_keys_is_diagnosed_as_configuration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = JwksEndpoint(metadata=None)
    endpoint.responses = [httpx.Response(404)]
    v = verifier(endpoint)
    with (
        caplog.at_level(logging.ERROR, "okta_guard"),
        pytest.raises(IssuerUnavailableError) as info,
    ):
        v.verify(token())
    assert info.value.status_code == 503  # callers still get "try again later"
    assert info.value.reason == "issuer_misconfigured"
    url = "https://okta.example.com/oauth2/default/v1/keys"
    assert info.value.diagnosis is not None and url in info.value.diagnosis
    assert "authorization server id 'default'" in info.value.diagnosis
    assert url not in info.value.description  # the client-facing text stays generic
    assert url in caplog.text and "configuration error" in caplog.text


async def test_a_404_at_prewarm_is_diagnosed() -> None:
    endpoint = JwksEndpoint(metadata=None)
    endpoint.responses = [httpx.Response(404)]
    v = verifier(endpoint)
    with pytest.raises(IssuerUnavailableError) as info:
        await v.prewarm_async()
    assert info.value.diagnosis is not None and "404" in info.value.diagnosis


def test_an_outage_is_not_diagnosed_as_configuration() -> None:
    endpoint = JwksEndpoint()
    endpoint.responses = [httpx.Response(503)]
    v = verifier(endpoint)
    with pytest.raises(IssuerUnavailableError) as info:
        v.verify(token())
    assert info.value.diagnosis is None
    assert info.value.reason == "issuer_unavailable"


# -- defect 2 at the socket: a sync read blocked at the deadline is interrupted --------------


def test_sync_shell_interrupts_a_read_at_the_deadline() -> None:
    """Each byte arrives within the read timeout; only the watchdog ends the request on time.

    Without it the body check after the second byte (at ~1.8 s) would be the first chance.
    """
    from okta_guard.testing import MockIssuer

    with MockIssuer() as okta, httpx.Client(timeout=5.0) as client:
        okta.start_outage("keys", drip=0.9)
        started = time.monotonic()
        answer = send_sync(client, HttpRequest(f"{okta.issuer}/v1/keys"), Deadline(1.0))
        elapsed = time.monotonic() - started
    assert answer.error == "deadline"
    assert elapsed < 1.5


class _HeaderDripServer:
    """A loopback server that answers every request with headers sent a byte every 0.9 s."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/keys"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: abcdef\r\nContent-Length: 2\r\n\r\n{}"
            for index in range(len(answer)):
                if self.stop.wait(0.9):
                    return
                try:
                    conn.sendall(answer[index : index + 1])
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def test_sync_shell_cuts_off_dripping_headers_at_the_deadline() -> None:
    server = _HeaderDripServer()
    try:
        with httpx.Client(timeout=5.0) as client:
            started = time.monotonic()
            answer = send_sync(client, HttpRequest(server.url), Deadline(1.0))
            elapsed = time.monotonic() - started
    finally:
        server.close()
    assert answer.error == "deadline"
    assert elapsed < 1.5


async def test_async_shell_cuts_off_dripping_headers_at_the_deadline() -> None:
    server = _HeaderDripServer()

    def flow() -> Generator[HttpRequest, HttpResponse | None, HttpResponse | None]:
        return (yield HttpRequest(server.url))

    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            started = time.monotonic()

            answer = await drive_async(
                flow(), lambda r, d: send_async(client, r, d), deadline=Deadline(1.0)
            )
            elapsed = time.monotonic() - started
    finally:
        server.close()
    assert answer.error == "deadline"
    assert elapsed < 1.5


def test_a_404_for_an_explicit_jwks_uri_names_that_option() -> None:
    endpoint = JwksEndpoint()
    endpoint.responses = [httpx.Response(404)]
    v = verifier(endpoint, jwks_uri="https://okta.example.com/oauth2/default/v1/keys")
    with pytest.raises(IssuerUnavailableError) as info:
        v.verify(token())
    assert info.value.diagnosis is not None
    assert "check the jwks_uri option" in info.value.diagnosis
