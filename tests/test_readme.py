"""Every ``python`` code block in README.md runs as written.

Blocks that define pytest-style ``test_*`` functions taking ``okta_issuer`` are
called with an in-process mock issuer. Blocks with ``console`` commands are
covered by the CLI tests.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from okta_guard.testing import MockIssuer

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_readme_has_runnable_blocks() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(source: str) -> None:
    namespace: dict[str, object] = {"__name__": "readme_block"}
    exec(compile(source, "README.md (python block)", "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            params = list(inspect.signature(value).parameters)
            assert params == ["okta_issuer"], f"unsupported fixtures in README: {params}"
            with MockIssuer() as okta:
                value(okta)
