"""Run every ``bench/bench_*.py`` module in one process, one section each.

Each module exposes ``main() -> None`` and prints its own table with the
ratios against its peers measured in the same run: ``bench_verify`` (token
verification), ``bench_middleware`` (protecting an app), ``bench_client``
(calling an API) and ``bench_mock`` (the mock issuer's loopback latency against
a bare ``http.server`` floor).  Pass module names (e.g.
``python -m bench verify``) to run only some.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = {f"bench_{a.removeprefix('bench_')}" for a in argv}
    print(f"okta-guard benchmarks - Python {platform.python_version()} on {platform.machine()}")
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"\n== {name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
