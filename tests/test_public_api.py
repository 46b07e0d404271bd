"""The public surface: the names ``okta_guard`` exports, pinned, and every module importable.

Modelled on httpx's ``test_exported_members``: a name added to or dropped from the
facade must show up here as a deliberate change.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import okta_guard

PUBLIC_NAMES = {
    "AccessToken",
    "ConfigurationError",
    "DPoPKey",
    "DPoPNonceError",
    "InvalidDPoPProofError",
    "MemoryReplayStore",
    "ReplayStoreError",
    "InsufficientScopeError",
    "IntrospectionClient",
    "InvalidRequestError",
    "InvalidTokenError",
    "IssuerUnavailableError",
    "MemoryStore",
    "MultiIssuerVerifier",
    "OktaGuardError",
    "OktaGuardMiddleware",
    "ProtectedResourceMetadata",
    "RetrySettings",
    "RouteInfo",
    "ServiceToken",
    "Store",
    "StoreSettings",
    "TokenAuth",
    "TokenCache",
    "TokenClient",
    "TokenRequestError",
    "TokenVerifier",
    "Verifier",
    "VerifierStats",
    "__version__",
    "audit_routes",
    "issuer_from_domain",
    "metadata_route",
    "public",
    "require_scopes",
}


def test_all_is_pinned() -> None:
    assert set(okta_guard.__all__) == PUBLIC_NAMES
    assert len(okta_guard.__all__) == len(set(okta_guard.__all__)), "duplicate in __all__"


def test_every_lazy_export_is_listed_and_every_listed_name_resolves() -> None:
    exports = okta_guard._EXPORTS
    assert set(exports) | {"__version__"} == set(okta_guard.__all__)
    for name in okta_guard.__all__:
        value = getattr(okta_guard, name)
        assert value is not None
        if name != "__version__":
            # The facade hands out the object of the module it names, not a copy.
            assert getattr(importlib.import_module(exports[name]), name) is value


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = okta_guard.Nope  # type: ignore[attr-defined]


def test_dir_lists_the_public_names() -> None:
    assert set(dir(okta_guard)) == PUBLIC_NAMES


def test_contract_submodules_stay_where_design_says() -> None:
    from okta_guard.testing import MockIssuer

    assert callable(MockIssuer)
    assert importlib.import_module("okta_guard.fastapi").OktaAuth


def _all_modules() -> list[str]:
    names = ["okta_guard"]
    for info in pkgutil.walk_packages(okta_guard.__path__, "okta_guard."):
        if not info.name.endswith(".__main__"):  # runs the CLI when imported
            names.append(info.name)
    return sorted(names)


def _import_alone(name: str) -> str | None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    return f"{name}: {result.stderr.strip().splitlines()[-1:]}"


def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    """Each module imports alone, first in a new process: no hidden order or cycle."""
    modules = _all_modules()
    assert len(modules) > 40
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(_import_alone, modules) if f]
    assert failures == []


def test_import_okta_guard_stays_light() -> None:
    """``import okta_guard`` loads no web framework or HTTP client until a name is used."""
    code = (
        "import sys, okta_guard\n"
        "heavy = [m for m in ('starlette', 'httpx', 'jwt', 'cryptography') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


PUBLIC_MODULES = {"okta_guard", "okta_guard.testing", "okta_guard.fastapi", "okta_guard.redis"}


def test_docs_and_examples_import_only_public_paths() -> None:
    root = Path(__file__).resolve().parents[1]
    texts = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    texts += sorted((root / "examples").glob("*.py"))
    pattern = re.compile(r"^\s*(?:from|import)\s+(okta_guard[\w.]*)", re.M)
    deep = [
        f"{path.name}: {module}"
        for path in texts
        for module in pattern.findall(path.read_text(encoding="utf-8"))
        if module not in PUBLIC_MODULES
    ]
    assert deep == []
