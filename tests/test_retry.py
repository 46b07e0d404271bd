"""Backoff and rate-limit header parsing."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from okta_guard._retry import backoff_delay, retry_after_seconds

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1, 2)])
def test_backoff_grows_with_jitter(attempt: int, low: float, high: float) -> None:
    assert backoff_delay(attempt, rand=lambda: 0.0) == low
    assert backoff_delay(attempt, rand=lambda: 1.0) == high


def test_backoff_is_capped() -> None:
    assert backoff_delay(50, cap=30.0, rand=lambda: 1.0) == 30.0


def test_retry_after_seconds_form() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "7"}), NOW) == 7.0


def test_retry_after_http_date_form() -> None:
    date = email.utils.formatdate(NOW + 20, usegmt=True)
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), NOW) == pytest.approx(20)


def test_okta_rate_limit_reset_epoch() -> None:
    headers = httpx.Headers({"X-Rate-Limit-Reset": str(int(NOW + 42))})
    assert retry_after_seconds(headers, NOW) == 42.0


def test_retry_after_wins_over_reset_and_is_clamped() -> None:
    headers = httpx.Headers({"Retry-After": "9999", "X-Rate-Limit-Reset": str(NOW + 5)})
    assert retry_after_seconds(headers, NOW, cap=60) == 60.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "-3"}), NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "nan", "inf"])
def test_garbage_is_ignored(value: str) -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": value}), NOW) is None
    assert retry_after_seconds(httpx.Headers({"X-Rate-Limit-Reset": value}), NOW) is None


def test_no_headers() -> None:
    assert retry_after_seconds(httpx.Headers(), NOW) is None
