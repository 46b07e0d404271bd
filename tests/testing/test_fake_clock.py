"""The test clock moves only when told to."""

from __future__ import annotations

import pytest

from okta_guard.testing import FakeClock


def test_fake_clock_moves_on_demand() -> None:
    clock = FakeClock(100.0)
    assert clock() == 100.0
    assert clock.advance(5) == 105.0
    assert clock() == 105.0
    clock.set(50)
    assert clock() == 50.0
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
