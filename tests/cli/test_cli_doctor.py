"""``okta-guard doctor`` step by step against the mock issuer, each failure included."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from okta_guard.cli import build_parser, main
from okta_guard.cli.doctor.report import Step
from okta_guard.cli.doctor.runner import diagnose
from okta_guard.testing import MockIssuer

SECRET = "doctor-secret-0123456789-abcdefghij"
WRITER_SECRET = "writer-secret-0123456789-abcdefghij"


@pytest.fixture(scope="module")
def okta() -> Iterator[MockIssuer]:
    with MockIssuer() as server:
        server.register_client("svc", SECRET, scopes=["orders:read"])
        server.register_client("writer", WRITER_SECRET, scopes=["orders:write", "orders:read"])
        server.register_client("dpop-app", SECRET, scopes=["orders:read"], dpop=True)
        yield server


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OKTA_ISSUER",
        "OKTA_DOMAIN",
        "OKTA_AUTH_SERVER_ID",
        "OKTA_AUDIENCE",
        "OKTA_CLIENT_ID",
        "OKTA_CLIENT_SECRET",
        "OKTA_SCOPES",
        "OKTA_AUTH_METHOD",
        "OKTA_PRIVATE_KEY",
        "OKTA_PRIVATE_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OKTA_GUARD_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))


def _doctor(
    argv: list[str],
    env: dict[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Step]:
    args = build_parser().parse_args(["doctor", *argv])
    with httpx.Client(timeout=5.0) as client:
        _, steps = diagnose(args, env=env or {}, http_client=client, clock=clock)
    names = [step.name for step in steps]
    assert len(names) == len(set(names))
    return {step.name: step for step in steps}


def _full(okta: MockIssuer, *extra: str, client: str = "svc") -> list[str]:
    return [
        "--issuer",
        okta.issuer,
        "--audience",
        okta.audience,
        "--client-id",
        client,
        "--scope",
        "orders:read",
        *extra,
    ]


def _env(secret: str = SECRET) -> dict[str, str]:
    return {"OKTA_CLIENT_SECRET": secret}


def _statuses(steps: dict[str, Step]) -> dict[str, str]:
    return {name: step.status for name, step in steps.items()}


# -- the whole chain ------------------------------------------------------------------


def test_every_step_passes_for_a_good_configuration(okta: MockIssuer) -> None:
    steps = _doctor(_full(okta), _env())
    assert _statuses(steps) == {
        "issuer": "ok",
        "discovery": "ok",
        "metadata": "ok",
        "keys": "ok",
        "clock": "ok",
        "token": "ok",
        "verify": "ok",
    }
    assert "2 key(s), 2 usable (RS256)" in steps["keys"].summary
    assert "max-age=" in steps["keys"].summary
    assert steps["token"].details["granted"] == ["orders:read"]


def test_exit_code_and_one_line_per_step(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKTA_CLIENT_SECRET", SECRET)
    assert main(["doctor", *_full(okta)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"okta-guard doctor: {okta.issuer}"
    assert "all checks passed (7 ok" in out
    monkeypatch.setenv("OKTA_CLIENT_SECRET", "wrong-" + SECRET)
    assert main(["doctor", *_full(okta)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  token" in out
    assert "fix: Compare the client id and secret" in out


def test_json_output(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKTA_CLIENT_SECRET", SECRET)
    assert main(["doctor", *_full(okta), "--audience", "api://other", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["target"] == okta.issuer
    by_name = {step["name"]: step for step in data["steps"]}
    assert by_name["verify"]["status"] == "fail"
    assert by_name["verify"]["details"]["token_audience"] == ["api://default"]
    assert by_name["issuer"]["fix"] is None
    assert SECRET not in json.dumps(data)


def test_configuration_from_the_environment(okta: MockIssuer) -> None:
    env = {
        "OKTA_ISSUER": okta.issuer,
        "OKTA_AUDIENCE": okta.audience,
        "OKTA_CLIENT_ID": "svc",
        "OKTA_CLIENT_SECRET": SECRET,
        "OKTA_SCOPES": "orders:read",
    }
    steps = _doctor([], env)
    assert set(_statuses(steps).values()) == {"ok"}
    assert steps["issuer"].details["source"] == "OKTA_ISSUER"


def test_configuration_from_a_stored_credential(
    okta: MockIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    argv = ["credentials", "add", "orders", "--issuer", okta.issuer, "--client-id", "svc"]
    assert main([*argv, "--scope", "orders:read", "--secret-stdin"]) == 0
    steps = _doctor(["--credential", "orders", "--audience", okta.audience])
    assert set(_statuses(steps).values()) == {"ok"}
    assert steps["issuer"].details["source"] == "credential 'orders'"


def test_without_a_client_the_token_steps_are_skipped(okta: MockIssuer) -> None:
    steps = _doctor(["--issuer", okta.issuer, "--audience", okta.audience])
    assert steps["keys"].status == "ok"
    assert steps["token"].status == "skip"
    assert "--credential" in steps["token"].summary
    assert steps["verify"].status == "skip"
    assert not any(step.failed for step in steps.values())


# -- step 1: the issuer's form ----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "suggestion"),
    [
        (
            "https://dev-1.okta.com/oauth2/default/.well-known/openid-configuration",
            "https://dev-1.okta.com/oauth2/default",
        ),
        (
            "https://dev-1.okta.com/.well-known/oauth-authorization-server/oauth2/aus9",
            "https://dev-1.okta.com/oauth2/aus9",
        ),
        ("https://dev-1.okta.com/oauth2/default/v1/keys", "https://dev-1.okta.com/oauth2/default"),
        ("https://dev-1.okta.com/oauth2/default/v1/token", "https://dev-1.okta.com/oauth2/default"),
        ("https://dev-1.okta.com/oauth2/v1", "https://dev-1.okta.com/oauth2/default"),
        ("https://dev-1.okta.com/oauth2/v1/keys", "https://dev-1.okta.com/oauth2/default"),
        ("https://dev-1.okta.com", "https://dev-1.okta.com/oauth2/default"),
        ("https://dev-1.okta.com/oauth2/aus9/", "https://dev-1.okta.com/oauth2/aus9"),
        ("https://dev-1-admin.okta.com/oauth2/default", "https://dev-1.okta.com/oauth2/default"),
        ("http://dev-1.okta.com/oauth2/default", "https://dev-1.okta.com/oauth2/default"),
        ("dev-1.okta.com/oauth2/default", "https://dev-1.okta.com/oauth2/default"),
    ],
)
def test_issuer_typos_name_the_issuer_to_use(given: str, suggestion: str) -> None:
    steps = _doctor(["--issuer", given])
    issuer = steps["issuer"]
    assert issuer.status == "fail"
    assert issuer.details["suggestion"] == suggestion
    assert f"Use {suggestion!r}" in issuer.fix
    assert {s.status for name, s in steps.items() if name != "issuer"} == {"skip"}


def test_org_server_is_explained() -> None:
    issuer = _doctor(["--issuer", "https://dev-1.okta.com/oauth2/v1"])["issuer"]
    assert "org authorization server" in issuer.fix


def test_no_issuer_at_all_says_where_to_put_one() -> None:
    issuer = _doctor([])["issuer"]
    assert issuer.status == "fail"
    assert "OKTA_ISSUER" in issuer.fix


def test_custom_server_is_named() -> None:
    steps = _doctor(["--issuer", "http://127.0.0.1:1/oauth2/aus9"])
    assert steps["issuer"].status == "ok"
    assert "custom server 'aus9'" in steps["issuer"].summary


# -- step 2: discovery ----------------------------------------------------------------


def test_discovery_404_names_the_url_and_suggests_the_server_id(okta: MockIssuer) -> None:
    wrong = okta.issuer.rsplit("/", 1)[0] + "/aus1wrong"
    steps = _doctor(["--issuer", wrong, "--client-id", "svc", "--scope", "orders:read"], _env())
    discovery = steps["discovery"]
    assert discovery.status == "fail"
    assert f"{wrong}/.well-known/oauth-authorization-server answered 404" in discovery.summary
    assert "'aus1wrong'" in discovery.summary
    assert f"use {okta.issuer}" in discovery.fix
    assert steps["token"].status == "skip"


def test_discovery_404_for_the_default_server(okta: MockIssuer) -> None:
    other = MockIssuer(auth_server="aus7").start()
    try:
        issuer = other.issuer.rsplit("/", 1)[0] + "/default"
        discovery = _doctor(["--issuer", issuer])["discovery"]
    finally:
        other.close()
    assert discovery.status == "fail"
    assert "Security > API > Authorization Servers" in discovery.fix


def test_discovery_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    steps = _doctor(["--issuer", f"http://127.0.0.1:{port}/oauth2/default"])
    assert steps["discovery"].status == "fail"
    assert "no answer" in steps["discovery"].summary
    assert "DNS" in steps["discovery"].fix
    assert steps["clock"].status == "warn"  # no Date header to compare with


def test_discovery_server_error(okta: MockIssuer) -> None:
    okta.fail_next("metadata", status=503)
    discovery = _doctor(["--issuer", okta.issuer])["discovery"]
    assert discovery.status == "fail"
    assert "answered 503" in discovery.summary
    assert "try again later" in discovery.fix


def test_discovery_not_json(okta: MockIssuer) -> None:
    okta.fail_next("metadata", status=200, body="<html>login</html>")
    discovery = _doctor(["--issuer", okta.issuer])["discovery"]
    assert discovery.status == "fail"
    assert "not with a JSON object" in discovery.summary


# -- step 3: the metadata's issuer ------------------------------------------------------


def _metadata(okta: MockIssuer, **changes: Any) -> dict[str, Any]:
    with okta.http_client() as client:
        document: dict[str, Any] = client.get(
            "/oauth2/default/.well-known/oauth-authorization-server"
        ).json()
    document = {
        k: v.replace(okta.base_url, "http://okta.localhost") if isinstance(v, str) else v
        for k, v in document.items()
    }
    return {**document, **changes}


def test_metadata_issuer_mismatch_names_both(okta: MockIssuer) -> None:
    metadata = {"issuer": okta.issuer + "x", "jwks_uri": okta.jwks_uri}
    okta.fail_next("metadata", status=200, body=metadata)
    steps = _doctor(["--issuer", okta.issuer])
    step = steps["metadata"]
    assert step.status == "fail"
    assert repr(okta.issuer + "x") in step.summary
    assert repr(okta.issuer) in step.summary
    assert steps["keys"].status == "ok"  # the verifier's fallback {issuer}/v1/keys


def test_metadata_jwks_uri_elsewhere_is_refused(okta: MockIssuer) -> None:
    metadata = {"issuer": okta.issuer, "jwks_uri": "https://evil.example/keys"}
    okta.fail_next("metadata", status=200, body=metadata)
    step = _doctor(["--issuer", okta.issuer])["metadata"]
    assert step.status == "warn"
    assert "evil.example" in step.summary


# -- step 4: the key set ----------------------------------------------------------------


def test_empty_key_set_fails(okta: MockIssuer) -> None:
    okta.fail_next("keys", status=200, body={"keys": []})
    step = _doctor(["--issuer", okta.issuer])["keys"]
    assert step.status == "fail"
    assert "0 key(s), 0 usable" in step.summary
    assert "every token would be refused" in step.fix


def test_keys_404_fails(okta: MockIssuer) -> None:
    okta.fail_next("keys", status=404)
    step = _doctor(["--issuer", okta.issuer])["keys"]
    assert step.status == "fail"
    assert f"{okta.jwks_uri} answered 404" in step.summary


def test_unusable_keys_and_missing_cache_control_warn(okta: MockIssuer) -> None:
    keys = okta.jwks()["keys"]
    body = {"keys": [keys[0], {**keys[1], "use": "enc"}]}
    okta.fail_next("keys", status=200, body=body)
    step = _doctor(["--issuer", okta.issuer])["keys"]
    assert step.status == "warn"
    assert "2 key(s), 1 usable" in step.summary
    assert keys[1]["kid"] in step.fix
    assert "Cache-Control" in step.fix  # a fault answer carries none


# -- step 5: the clock ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "status", "words"),
    [(0, "ok", "ahead"), (-30, "warn", "behind"), (300, "fail", "ahead"), (-300, "fail", "behind")],
)
def test_clock_skew_against_the_date_header(
    okta: MockIssuer, offset: float, status: str, words: str
) -> None:
    step = _doctor(["--issuer", okta.issuer], clock=lambda: time.time() + offset)["clock"]
    assert step.status == status
    assert words in step.summary or offset == 0
    if status != "ok":
        assert "NTP" in step.fix
        assert abs(step.details["skew_seconds"] - offset) <= 1.5  # Date has 1 s resolution


def test_clock_check_is_exact_on_a_given_date() -> None:
    from okta_guard.cli.doctor.server import check_clock

    date = "Tue, 01 Dec 2026 20:00:00 GMT"
    at = 1_796_155_200.0  # that instant
    assert check_clock(date, at + 2, 60).status == "ok"
    step = check_clock(date, at - 61, 60)
    assert step.status == "fail"
    assert "61 s behind" in step.summary
    assert "not yet valid" in step.fix
    assert check_clock(None, at, 60).status == "warn"
    assert check_clock("yesterday", at, 60).status == "warn"


# -- step 6: the token ----------------------------------------------------------------


def test_invalid_client_is_explained(okta: MockIssuer) -> None:
    step = _doctor(_full(okta), _env("not-the-secret"))["token"]
    assert step.status == "fail"
    assert step.details["error"] == "invalid_client"
    assert "Client Credentials" in step.fix
    assert "not-the-secret" not in repr(step)


def test_invalid_scope_is_explained(okta: MockIssuer) -> None:
    argv = _full(okta)
    argv[argv.index("orders:read")] = "no:such-scope"
    step = _doctor(argv, _env())["token"]
    assert step.status == "fail"
    assert step.details["error"] == "invalid_scope"
    assert "no:such-scope" in step.summary
    assert "Scopes" in step.fix


def test_openid_scope_is_explained(okta: MockIssuer) -> None:
    argv = _full(okta)
    argv[argv.index("orders:read")] = "openid"
    step = _doctor(argv, _env())["token"]
    assert step.status == "fail"  # refused before asking Okta
    assert "openid" in step.fix


def test_access_denied_is_explained(okta: MockIssuer) -> None:
    argv = _full(okta)
    argv[argv.index("orders:read")] = "orders:write"  # defined, but not granted to svc
    step = _doctor(argv, _env())["token"]
    assert step.status == "fail"
    assert step.details["error"] == "access_denied"
    assert "Access Policies" in step.fix


def test_dpop_required_is_explained_and_the_bound_token_verified_with_a_proof(
    okta: MockIssuer,
) -> None:
    steps = _doctor(_full(okta, client="dpop-app"), _env())
    step = steps["token"]
    assert step.status == "warn"  # the client switched to DPoP when Okta demanded it
    assert step.details["token_type"] == "DPoP"
    assert "requires DPoP" in step.summary
    assert "Require Demonstrating Proof of Possession" in step.fix
    assert steps["verify"].status == "ok"
    assert "DPoP proof" in steps["verify"].summary


def test_dpop_required_without_dpop_is_explained(okta: MockIssuer) -> None:
    # a client that never sends proofs: Okta refuses it
    step = _doctor(_full(okta, "--dpop", "never", client="dpop-app"), _env())["token"]
    assert step.status == "fail"
    assert "DPoP" in step.summary
    assert "Require Demonstrating Proof of Possession" in step.fix


def test_dpop_bound_token_is_explained() -> None:
    import datetime as dt

    from okta_guard.cli.doctor.token_step import token_step
    from okta_guard.models import ServiceToken

    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    bound = ServiceToken("x.y.z", "DPoP", expires, frozenset({"orders:read"}))
    step, token = token_step(
        lambda: bound, client_id="svc", scopes=["orders:read"], auth_method="client_secret_basic"
    )
    assert token is bound
    assert step.status == "warn"
    assert "requires DPoP" in step.summary
    assert "must accept DPoP" in step.fix


def test_dpop_refusal_still_checks_the_audience() -> None:
    from okta_guard.cli.doctor.verify_step import verify_step
    from okta_guard.errors import InvalidTokenError

    def refuse(token: str) -> Any:
        raise InvalidTokenError(reason="dpop_bound")

    payload = base64.urlsafe_b64encode(json.dumps({"aud": "api://default"}).encode())
    token = "e30." + payload.decode().rstrip("=") + ".c2ln"
    step, _ = verify_step(refuse, token, issuer="https://x/oauth2/default", audience="api://x")
    assert step.status == "fail"
    assert "'api://default'" in step.summary and "'api://x'" in step.summary
    step, _ = verify_step(
        refuse, token, issuer="https://x/oauth2/default", audience="api://default"
    )
    assert step.status == "warn"
    assert "DPoP-bound" in step.summary


def test_a_dripping_answer_is_cut_at_the_deadline(okta: MockIssuer) -> None:
    from okta_guard.cli.doctor.runner import fetch

    okta.fail_next("keys", status=200, body={"keys": [{"kid": "x" * 200}]}, drip=0.05)
    started = time.monotonic()
    with httpx.Client(timeout=0.5) as client:
        answer = fetch(client, okta.jwks_uri)
    assert time.monotonic() - started < 5
    assert answer.status == 0
    assert "longer than" in (answer.error or "")


def test_incomplete_client_configuration(okta: MockIssuer) -> None:
    step = _doctor(_full(okta))["token"]  # no secret anywhere
    assert step.status == "fail"
    assert "OKTA_CLIENT_SECRET" in step.fix


# -- step 7: verification --------------------------------------------------------------


def test_audience_mismatch_names_both_values(okta: MockIssuer) -> None:
    argv = _full(okta)
    argv[argv.index(okta.audience)] = "api://orders"
    step = _doctor(argv, _env())["verify"]
    assert step.status == "fail"
    assert "'api://default'" in step.summary
    assert "'api://orders'" in step.summary
    assert "Audience" in step.fix


def test_without_an_audience_verification_is_skipped_and_says_which(okta: MockIssuer) -> None:
    argv = _full(okta)
    del argv[2:4]
    step = _doctor(argv, _env())["verify"]
    assert step.status == "skip"
    assert "'api://default'" in step.summary


# -- step 8: routes ---------------------------------------------------------------------


def test_routes_all_reachable(okta: MockIssuer) -> None:
    argv = _full(okta, client="writer")
    argv[argv.index("orders:read")] = "orders:read orders:write"
    steps = _doctor([*argv, "--app", "tests.cli.doctor_apps:protected"], _env(WRITER_SECRET))
    step = steps["routes"]
    assert step.status == "ok", step
    assert any(line.startswith("GET /orders") and line.endswith("ok") for line in step.lines)


def test_routes_some_denied_is_a_warning(okta: MockIssuer) -> None:
    step = _doctor(_full(okta, "--app", "tests.cli.doctor_apps:protected"), _env())["routes"]
    assert step.status == "warn"
    assert "reaches 1 of 2" in step.summary
    assert any("POST /orders" in line and "403 (needs orders:write)" in line for line in step.lines)


def test_routes_none_reachable_fails(okta: MockIssuer) -> None:
    step = _doctor(_full(okta, "--app", "tests.cli.doctor_apps:writers_only"), _env())["routes"]
    assert step.status == "fail"
    assert "reaches none of the 1 protected route(s)" in step.summary
    assert "--scope" in step.fix


def test_routes_without_a_token_are_listed_not_compared(okta: MockIssuer) -> None:
    argv = _full(okta, "--app", "tests.cli.doctor_apps:with_open_route", "--public", "/health")
    step = _doctor(argv, _env("wrong"))["routes"]
    assert step.status == "skip"
    assert any("GET /orders" in line and "needs orders:read" in line for line in step.lines)
    assert any("/health" in line and "public" in line for line in step.lines)


def test_routes_unprotected_fails(okta: MockIssuer) -> None:
    step = _doctor(_full(okta, "--app", "tests.cli.doctor_apps:with_open_route"), _env())["routes"]
    assert step.status == "fail"
    assert any("/health" in line and "UNPROTECTED" in line for line in step.lines)
    assert "--public" in step.fix


def test_routes_app_that_cannot_be_loaded(okta: MockIssuer) -> None:
    step = _doctor(["--issuer", okta.issuer, "--app", "tests.cli.no_such_module:app"])["routes"]
    assert step.status == "fail"
    assert "cannot load" in step.summary


# -- the pure pieces ------------------------------------------------------------------


def test_report_text_has_one_line_per_step_and_fixes_only_for_problems() -> None:
    from okta_guard.cli.doctor.report import exit_code, render_json, render_text

    steps = [
        Step("issuer", "ok", "fine", "never shown"),
        Step("keys", "warn", "odd", "look at it"),
        Step("token", "fail", "refused", "do this"),
        Step("verify", "skip", "not run"),
    ]
    text = render_text("https://x/oauth2/default", steps, width=200)
    lines = text.splitlines()
    assert lines[0] == "okta-guard doctor: https://x/oauth2/default"
    assert [line.split()[0] for line in lines[1:] if not line.strip().startswith("fix:")][:4] == [
        "ok",
        "warn",
        "FAIL",
        "skip",
    ]
    assert "never shown" not in text
    assert "fix: look at it" in text and "fix: do this" in text
    assert lines[-1].startswith("1 check(s) failed (1 ok, 1 warning(s), 1 failed, 1 skipped)")
    assert exit_code(steps) == 1
    assert exit_code(steps[:2]) == 0
    assert render_json("t", steps[:2])["ok"] is True


def test_route_verdicts_with_alternatives() -> None:
    from okta_guard.cli.doctor.routes_step import route_verdict
    from okta_guard.protect.audit import RouteInfo

    either = RouteInfo("/r", ("GET",), "r", any_of=("a", "b"), protected=True, source="x")
    assert route_verdict(either, frozenset({"b"})) == "ok"
    assert route_verdict(either, frozenset({"c"})) == "403 (needs one of a b)"
    assert route_verdict(either, None) == "needs one of a b"
    middleware = RouteInfo("/m", ("GET",), "m", protected=True, source="middleware")
    assert route_verdict(middleware, frozenset()) == "ok"
    assert route_verdict(middleware, None) == "needs a valid token"


def test_issuer_suggestions_leave_unknown_shapes_alone() -> None:
    from okta_guard.cli.doctor.issuer_form import suggest_issuer

    assert suggest_issuer("https://x.okta.com/some/where") == ("https://x.okta.com/some/where", [])
    issuer, notes = suggest_issuer(" https://x.okta.com/oauth2/default/ ")
    assert issuer == "https://x.okta.com/oauth2/default"
    assert notes == ["removed white space", "removed the trailing slash (Okta's issuer has none)"]


def test_an_oversized_answer_is_not_read_whole(okta: MockIssuer) -> None:
    from okta_guard.cli.doctor.runner import MAX_BODY, fetch

    okta.fail_next("keys", status=200, body={"keys": [], "pad": "x" * (MAX_BODY + 10)})
    with httpx.Client(timeout=5.0) as client:
        answer = fetch(client, okta.jwks_uri)
    assert answer.status == 0
    assert "larger than" in (answer.error or "")
    step = _doctor(["--issuer", okta.issuer])["keys"]
    assert step.status == "ok"  # the fault was used up; the real key set is fine


def test_doctor_end_to_end_against_the_mock_issuer_command_over_tls() -> None:
    import os
    import subprocess
    import sys

    mock = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "okta_guard",
            "mock-issuer",
            "--port",
            "0",
            "--tls",
            "--client",
            f"svc:{SECRET}:orders:read",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert mock.stdout is not None and mock.stderr is not None
        issuer = mock.stdout.readline().strip()
        ca_file = mock.stderr.readline().split()[3]
        env = {
            **os.environ,
            "SSL_CERT_FILE": ca_file,
            "OKTA_ISSUER": issuer,
            "OKTA_AUDIENCE": "api://default",
            "OKTA_CLIENT_ID": "svc",
            "OKTA_CLIENT_SECRET": SECRET,
            "OKTA_SCOPES": "orders:read",
        }
        done = subprocess.run(
            [sys.executable, "-m", "okta_guard", "doctor"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        mock.terminate()
        mock.communicate(timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert issuer.startswith("https://")
    assert "all checks passed (7 ok" in done.stdout


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        (["--domain", "http://dev-1.okta.com"], {}, "--domain"),
        (["--domain", "dev-1-admin.okta.com"], {}, "--domain"),
        ([], {"OKTA_DOMAIN": "http://dev-1.okta.com"}, "OKTA_DOMAIN"),
    ],
)
def test_domain_typos_name_the_issuer_to_use(
    argv: list[str], env: dict[str, str], source: str
) -> None:
    issuer = _doctor(argv, env)["issuer"]
    assert issuer.status == "fail"
    assert issuer.details["source"] == source
    assert issuer.details["suggestion"] == "https://dev-1.okta.com/oauth2/default"
