"""``okta-guard demo --fleet``: worker processes with and without a shared RedisStore."""

from __future__ import annotations

import argparse
import io

import pytest

from okta_guard.cli import main
from okta_guard.cli.demo import register, run
from okta_guard.demo.fleet import run_fleet_demo
from okta_guard.errors import ConfigurationError
from tests.support.redis_server import RedisServer


def test_fleet_demo_shows_one_request_with_the_store_and_one_per_process_without(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--fleet", "--workers", "2", "--threads", "3"]) == 0
    text = capsys.readouterr().out
    assert "2 worker processes x 3 threads" in text
    assert "throw-away redis-server" in text
    lines = [line.split() for line in text.splitlines()]
    rows = {words[0]: words for words in lines if words and words[0] in ("each", "RedisStore")}
    assert rows["each"][3:6] == ["2", "2", "2/2"]  # one request per process, per round
    assert rows["RedisStore"][2:5] == ["1", "1", "1/1"]  # one for the fleet
    assert "no token in clear" in text
    assert "All as expected." in text


def test_fleet_demo_uses_a_given_redis() -> None:
    out = io.StringIO()
    with RedisServer() as server:
        assert run_fleet_demo(out, workers=1, threads=2, redis_url=server.url) == 0
    assert "Redis from --redis" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--fleet", "--okta"], "leave out --okta"),
        (["demo", "--fleet", "--workers", "0"], "--workers takes"),
    ],
)
def test_fleet_demo_arguments_are_checked(argv: list[str], message: str) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    with pytest.raises(ConfigurationError, match=message):
        run(args)
