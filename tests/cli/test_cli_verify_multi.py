"""``okta-guard verify`` with several authorization servers (``OKTA_ISSUERS``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from okta_guard.cli import main
from okta_guard.testing import MockIssuer


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.add_auth_server("partner", audience="api://partner")
        yield server


def test_verify_with_several_issuers_from_env(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("OKTA_ISSUER", "OKTA_DOMAIN", "OKTA_AUDIENCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OKTA_ISSUERS", f"{okta.issuer},{okta.issuer_for('partner')}")
    monkeypatch.setenv("OKTA_AUDIENCES", "api://default,api://partner")
    partner = okta.mint_token(scopes=["orders:read"], server="partner")
    assert main(["verify", partner, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["iss"] == okta.issuer_for("partner")
    stranger = okta.mint_token(claims={"iss": "https://other.example.com/oauth2/default"})
    assert main(["verify", stranger, "--json"]) == 1
    assert "unknown_issuer" in capsys.readouterr().out
