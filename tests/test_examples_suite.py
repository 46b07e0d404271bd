"""examples/test_with_mock_issuer.py is documentation: run it as a user would.

pytest's ``testpaths`` is ``tests``, so the example test module is run here, in a
separate pytest process (``pytest examples/test_with_mock_issuer.py``), and every
one of its tests must pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "test_with_mock_issuer.py"


def test_example_test_module_passes() -> None:
    expected = len(re.findall(r"^(?:async )?def test_", EXAMPLE.read_text(), re.M))
    assert expected >= 8
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(rf"{expected} passed(,| in )", summary), summary
