"""C2SP/wycheproof JSON Web Signature vectors: all rejected, none crashes the verifier.

The file is read from ``../shared/testdata/wycheproof`` (beside the repository,
also in CI).  Every vector's payload is a non-claims string such as ``"foo"``,
so for an access-token verifier every one must end in an ``OktaGuardError``.

Each group's public key (when it has one) is served as the only key of a test
JWKS.  The ``rs256`` group's key ``kid-rsa-sign`` is RSA-2048, so the verifier
really runs the signature check on its 226 padding/encoding cases: the one
valid vector passes the signature and fails only on its payload
(``malformed``), and the invalid ones fail earlier.  A lower-level test feeds the
same vectors to :func:`okta_guard.verify.jws.verify_signature` to pin that down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from okta_guard.errors import InvalidTokenError
from okta_guard.verify.jws import parse_token, verify_signature
from okta_guard.verify.keyset import parse_key_set
from tests.support.verifier_helpers import JwksEndpoint, verifier

VECTORS = Path(__file__).resolve().parents[2] / "shared/testdata/wycheproof"
VECTOR_FILE = VECTORS / "json_web_signature_test.json"

if not VECTOR_FILE.exists():  # pragma: no cover - the shared directory is part of CI
    if os.environ.get("CI"):
        # CI always lays shared/ beside the clone: a missing file is a broken path, not a skip.
        raise FileNotFoundError(f"wycheproof vectors not found at {VECTOR_FILE}")
    pytest.skip(f"wycheproof vectors not found at {VECTOR_FILE}", allow_module_level=True)

DATA: dict[str, Any] = json.loads(VECTOR_FILE.read_text())
GROUPS: list[dict[str, Any]] = DATA["testGroups"]
RS256_GROUP = next(g for g in GROUPS if g.get("public", {}).get("kid") == "kid-rsa-sign")


def test_file_has_all_vectors() -> None:
    assert DATA["numberOfTests"] == 401
    assert sum(len(g["tests"]) for g in GROUPS) == 401


@pytest.mark.parametrize("index", range(len(GROUPS)), ids=lambda i: f"group{i}")
def test_every_vector_is_rejected_with_a_library_error(index: int) -> None:
    group = GROUPS[index]
    public = group.get("public")
    endpoint = JwksEndpoint(keys=[public] if isinstance(public, dict) else [])
    v = verifier(endpoint)
    for case in group["tests"]:
        # Anything but InvalidTokenError (another error, or acceptance) fails the test.
        with pytest.raises(InvalidTokenError) as info:
            v.verify(case["jws"])
        assert info.value.reason != "internal_error", case["tcId"]
    assert v.stats.verdicts.get("ok", 0) == 0


def test_rs256_key_is_usable_and_2048_bits() -> None:
    content = parse_key_set(
        json.dumps({"keys": [RS256_GROUP["public"]]}).encode(), algorithms=frozenset({"RS256"})
    )
    assert set(content.keys) == {"kid-rsa-sign"}
    assert content.keys["kid-rsa-sign"].key.key_size == 2048


def test_rs256_group_signature_path_is_exercised() -> None:
    endpoint = JwksEndpoint(keys=[RS256_GROUP["public"]])
    v = verifier(endpoint)
    reasons: dict[str, str] = {}
    for case in RS256_GROUP["tests"]:
        with pytest.raises(InvalidTokenError) as info:
            v.verify(case["jws"])
        reasons[case["tcId"]] = info.value.reason
    valid = [c["tcId"] for c in RS256_GROUP["tests"] if c["result"] == "valid"]
    assert valid and all(reasons[t] == "malformed" for t in valid)  # "foo" is not claims
    signature_failures = sum(1 for r in reasons.values() if r == "bad_signature")
    assert signature_failures >= 200  # the padding and encoding cases reach the RSA check
    assert endpoint.key_fetches == 1


def test_rs256_group_signatures_at_the_lower_level() -> None:
    key = parse_key_set(
        json.dumps({"keys": [RS256_GROUP["public"]]}).encode(), algorithms=frozenset({"RS256"})
    ).keys["kid-rsa-sign"]
    for case in RS256_GROUP["tests"]:
        try:
            parsed = parse_token(case["jws"], max_size=8192, algorithms=frozenset({"RS256"}))
        except InvalidTokenError:
            assert case["result"] == "invalid", case["tcId"]
            continue
        assert verify_signature(parsed, key.key) is (case["result"] == "valid"), case["tcId"]
