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


def test_fleet_demo_shows_one_request_with_the_store_and_one_per_process_without() -> None:
    out = io.StringIO()
    with RedisServer() as server:
        assert run_fleet_demo(out, workers=2, threads=3, redis_url=server.url) == 0
    text = out.getvalue()
    assert "2 worker processes x 3 threads" in text
    rows = {
        line.split()[0]: line.split() for line in text.splitlines() if line[:4] in ("each", "Redi")
    }
    assert rows["each"][3:6] == ["2", "2", "2/2"]  # one request per process, per round
    assert rows["RedisStore"][2:5] == ["1", "1", "1/1"]  # one for the fleet
    assert "no token in clear" in text
    assert "All as expected." in text


def test_fleet_demo_from_the_command_line_starts_its_own_redis(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--fleet", "--workers", "2", "--threads", "2"]) == 0
    assert "throw-away redis-server" in capsys.readouterr().out


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
