"""Telemetry with the OpenTelemetry SDK's in-memory exporters, for a run against the mock.

The run: discovery and keys, a refused token, a key rotation, an outage served from
stale keys, a 429 on the token endpoint, and an introspection.  The spans carry the
standard HTTP attributes and no secret; the metric points count what happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from okta_guard import (
    IntrospectionClient,
    InvalidTokenError,
    RetrySettings,
    TokenClient,
    TokenVerifier,
    telemetry,
)
from okta_guard.testing import FakeClock, MockIssuer

SECRET = "telemetry-secret-" + "z" * 30


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry.configure(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        yield spans, reader
    finally:
        telemetry._resolved = False  # back to auto-detection for the other tests
        telemetry._state = None


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def total(found: dict[str, list[Any]], name: str, **attrs: Any) -> float:
    return sum(
        p.value
        for p in found.get(name, [])
        if all(p.attributes.get(k.replace("__", ".")) == v for k, v in attrs.items())
    )


def test_a_run_against_the_mock(otel: tuple[InMemorySpanExporter, InMemoryMetricReader]) -> None:
    spans, reader = otel
    clock = FakeClock()
    # a server name of its own: other tests' verifiers may still be alive and observed
    okta = MockIssuer(clock=clock, auth_server="telemetry-run")
    okta.register_client("svc", SECRET, scopes=["orders:read"])
    http = httpx.Client(transport=okta.transport)
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=clock,
        http_client=http,
        introspection=IntrospectionClient(
            okta.issuer, "svc", SECRET, clock=clock, http_client=http
        ),
    )
    iss = {"okta_guard__issuer": okta.issuer}

    # discovery + keys, then a cached verdict
    token = okta.mint_token(scopes=["orders:read"])
    verifier.verify(token)
    verifier.verify(token)
    # a refused token
    with pytest.raises(InvalidTokenError):
        verifier.verify(okta.mint_token(expires_in=-600))
    # a rotation: the new kid makes the verifier fetch the keys again
    okta.rotate_keys()
    okta.rotate_keys()  # twice: the new active key was not published before
    clock.advance(60)
    verifier.verify(okta.mint_token(scopes=["orders:read"]))
    # an outage past the key set's lifetime: stale keys serve, the fetch fails
    with okta.outage("keys"):
        clock.advance(86400 + 60)
        verifier.verify(okta.mint_token(scopes=["orders:read"]))
    # a 429 on the token endpoint, then success
    okta.fail_next("token", 429, headers={"X-Rate-Limit-Reset": str(int(clock()) + 2)})
    client = TokenClient(
        okta.issuer,
        "svc",
        SECRET,
        scopes=["orders:read"],
        clock=clock,
        http_client=http,
        sleep=lambda seconds: None,
        retry=RetrySettings(max_attempts=3),
    )
    service = client.get_token().access_token
    # an introspection
    access = verifier.verify(service)
    verifier.introspect(service, access)
    verifier.introspect(service, access)  # cached

    finished = spans.get_finished_spans()
    kinds = [s.attributes["okta_guard.call"] for s in finished]
    assert kinds.count("discovery") == 1
    assert kinds.count("keys") >= 3  # first fetch, after the rotation, during the outage
    assert kinds.count("token") == 2
    assert kinds.count("introspection") == 1
    for span in finished:
        assert span.kind is SpanKind.CLIENT
        attrs = dict(span.attributes or {})
        assert attrs["http.request.method"] in ("GET", "POST")
        assert attrs["url.full"].startswith(okta.issuer)
        assert attrs["server.address"] == "okta.localhost"
        assert attrs["server.port"] == 80
        text = repr(attrs) + span.name
        assert SECRET not in text and token not in text and service not in text
    failed = [s for s in finished if s.status.status_code is StatusCode.ERROR]
    assert {s.attributes["http.response.status_code"] for s in failed} == {503, 429}
    intro = next(s for s in finished if s.attributes["okta_guard.call"] == "introspection")
    assert intro.name == "POST /oauth2/telemetry-run/v1/introspect"
    assert intro.attributes["http.response.status_code"] == 200

    found = points(reader)
    assert total(found, "okta_guard.verifications", okta_guard__outcome="accepted", **iss) == 5
    assert total(found, "okta_guard.verifications", okta_guard__reason="expired", **iss) == 1
    assert total(found, "okta_guard.verifications", okta_guard__outcome="refused", **iss) == 1
    assert total(found, "okta_guard.verdict_cache.hits", **iss) == 1
    assert total(found, "okta_guard.keys.fetches", **iss) >= 3
    assert total(found, "okta_guard.keys.fetch_failures", **iss) >= 1
    assert total(found, "okta_guard.keys.stale_serves", **iss) >= 1
    assert total(found, "okta_guard.introspection.cache_hits", **iss) == 1
    assert total(found, "okta_guard.token.requests", http__response__status_code=429) == 1
    assert total(found, "okta_guard.token.requests", http__response__status_code=200) == 1
    assert total(found, "okta_guard.retries", okta_guard__call="token") == 1
    assert total(found, "okta_guard.rate_limit.waits", okta_guard__call="token") == 1
    assert total(found, "okta_guard.introspection.calls", http__response__status_code=200) == 1
    durations = {
        p.attributes["okta_guard.call"]: p.count
        for p in found["http.client.request.duration"]
        if p.attributes.get("server.address") == "okta.localhost"
    }
    assert set(durations) >= {"discovery", "keys", "token", "introspection"}
    okta.close()


def test_introspection_rate_limit_is_counted(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
) -> None:
    _spans, reader = otel
    clock = FakeClock()
    okta = MockIssuer(clock=clock, auth_server="telemetry-429")
    okta.register_client("svc", SECRET)
    http = httpx.Client(transport=okta.transport)
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        clock=clock,
        http_client=http,
        introspection=IntrospectionClient(
            okta.issuer, "svc", SECRET, clock=clock, http_client=http
        ),
        introspect_all=True,
    )
    okta.fail_next("introspect", 429, headers={"X-Rate-Limit-Reset": str(int(clock()) + 9)})
    with pytest.raises(Exception, match="rate-limited"):
        verifier.verify(okta.mint_token())
    found = points(reader)
    assert total(found, "okta_guard.rate_limit.waits", okta_guard__call="introspection") == 1
    assert (
        total(
            found,
            "okta_guard.verifications",
            okta_guard__outcome="unavailable",
            okta_guard__reason="introspection_rate_limited",
            okta_guard__issuer=okta.issuer,
        )
        == 1
    )
    okta.close()


def test_unknown_issuers_are_counted(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
) -> None:
    from okta_guard import MultiIssuerVerifier

    _spans, reader = otel
    okta = MockIssuer(auth_server="telemetry-multi")
    multi = MultiIssuerVerifier([TokenVerifier(okta.issuer, okta.audience)])
    for _ in range(3):
        with pytest.raises(InvalidTokenError):
            multi.verify(okta.mint_token(claims={"iss": "https://x.example.com/oauth2/y"}))
    found = points(reader)
    assert (
        total(
            found,
            "okta_guard.verifications",
            okta_guard__reason="unknown_issuer",
            okta_guard__issuers=okta.issuer,
        )
        == 3
    )
    okta.close()


def test_disabled_telemetry_is_a_shared_no_op() -> None:
    was = telemetry._state, telemetry._resolved
    telemetry.disable()
    try:
        assert not telemetry.enabled()
        first = telemetry.outbound("keys", "GET", "https://x.example/v1/keys")
        assert first is telemetry.outbound("token", "POST", "https://x.example/v1/token")
        with first as span:
            span.done(200)
        telemetry.record("okta_guard.retries")
    finally:
        telemetry._state, telemetry._resolved = was


def test_prometheus_exporter_shows_the_documented_names() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import generate_latest

    was = telemetry._state, telemetry._resolved
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    telemetry.configure(meter_provider=provider)
    try:
        okta = MockIssuer(clock=FakeClock(), auth_server="telemetry-prometheus")
        verifier = TokenVerifier(
            okta.issuer, okta.audience, clock=okta.clock, http_client=okta.http_client()
        )
        verifier.verify(okta.mint_token())
        with pytest.raises(InvalidTokenError):
            verifier.verify(okta.mint_token(expires_in=-900))
        text = generate_latest().decode()
        for name in (
            "okta_guard_verifications_total",
            "okta_guard_keys_fetches_total",
            "okta_guard_keys_stale_serves_total",
            "http_client_request_duration_seconds_bucket",
        ):
            assert name in text
        assert 'okta_guard_outcome="refused",okta_guard_reason="expired"' in text
        okta.close()
    finally:
        provider.shutdown()  # unregisters the collector from prometheus_client's registry
        telemetry._state, telemetry._resolved = was


def test_no_span_and_no_counter_call_per_cached_request(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader], monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from okta_guard import OktaGuardMiddleware

    spans, reader = otel
    okta = MockIssuer(auth_server="telemetry-hot-path")
    verifier = TokenVerifier(
        okta.issuer,
        okta.audience,
        http_client=okta.http_client(),
        async_http_client=okta.async_http_client(),
    )
    app = Starlette(
        routes=[Route("/", lambda request: PlainTextResponse("ok"))],
        middleware=[Middleware(OktaGuardMiddleware, verifier=verifier, prewarm=False)],
    )
    auth = {"Authorization": f"Bearer {okta.mint_token()}"}
    with TestClient(app) as client:
        assert client.get("/", headers=auth).status_code == 200  # discovery + keys
        outbound_spans = len(spans.get_finished_spans())
        calls: list[str] = []
        monkeypatch.setattr(telemetry, "record", lambda *a, **k: calls.append("record"))
        monkeypatch.setattr(telemetry, "outbound", lambda *a, **k: calls.append("outbound"))
        for _ in range(50):
            assert client.get("/", headers=auth).status_code == 200
    assert len(spans.get_finished_spans()) == outbound_spans == 2
    assert calls == []  # the cached path calls no telemetry hook at all
    found = points(reader)  # and the counts are still right, read at collection
    assert total(found, "okta_guard.verdict_cache.hits", okta_guard__issuer=okta.issuer) == 50
    okta.close()
