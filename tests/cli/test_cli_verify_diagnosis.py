"""``okta-guard verify`` says what is wrong when the issuer's answer shows a configuration error."""

from __future__ import annotations

import pytest

from okta_guard.cli import main
from okta_guard.testing import MockIssuer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OKTA_ISSUER", "OKTA_DOMAIN", "OKTA_AUDIENCE"):
        monkeypatch.delenv(var, raising=False)


def test_a_wrong_authorization_server_id_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with MockIssuer() as okta:
        token = okta.mint_token(scopes=["orders:read"], client_id="svc")
        wrong = f"{okta.base_url}/oauth2/no-such-server"
        argv = ["verify", token, "--issuer", wrong, "--audience", "api://default"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{wrong}/v1/keys answered 404" in err
    assert "authorization server id 'no-such-server' is probably wrong" in err
    assert "Traceback" not in err
