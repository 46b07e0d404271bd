"""A real browser against the mock: Swagger UI's client-credentials *Authorize* flow.

Headless Chromium (Debian's ``chromium``, driven over the DevTools protocol) opens
the offline ``/docs`` page (``fastapi-offline``) of a FastAPI app protected by
``OktaAuth``, types the client id and secret into Swagger UI's *Authorize* dialog,
which fetches a token
cross-origin from the mock's ``/v1/token`` (a CORS preflight first), then runs
*Try it out* on a protected operation and reads the 200 on the page.  Without a
Trusted Origin for the docs page, the same flow fails in the browser.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from okta_guard import AccessToken, TokenVerifier
from okta_guard.fastapi import OktaAuth
from okta_guard.testing import MockIssuer
from tests.support.cdp import Browser, Page, launch

WAIT_FOR = """
window.waitFor = (selector, text) => new Promise((resolve, reject) => {
  const started = Date.now();
  (function poll() {
    const found = [...document.querySelectorAll(selector)]
      .find(el => text === undefined || el.innerText.includes(text));
    if (found) return resolve(found);
    if (Date.now() - started > 30000) return reject(new Error("timed out waiting for " + selector));
    setTimeout(poll, 50);
  })();
});
window.typeInto = (element, value) => {
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
  setter.call(element, value);
  element.dispatchEvent(new Event("input", {bubbles: true}));
};
true
"""


def _app(okta: MockIssuer) -> FastAPI:
    verifier = TokenVerifier(okta.issuer, okta.audience)
    auth = OktaAuth(verifier, scopes={"orders:read": "Read orders"})
    app = FastAPIOffline(title="Orders")  # Swagger UI from the package, not a CDN
    auth.install(app)

    read = auth.require("orders:read")

    @app.get("/orders")
    async def orders(token: AccessToken = read) -> dict[str, object]:
        return {"client": token.client_id, "orders": [1, 2]}

    return app


@pytest.fixture
def api_url(request: pytest.FixtureRequest) -> Iterator[str]:
    okta: MockIssuer = request.getfixturevalue("okta")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections queue here until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(_app(okta), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch() as chromium:
        yield chromium


def _authorize(page: Page) -> str:
    """Fill Swagger UI's Authorize dialog for the client and return the dialog's text."""
    page.evaluate(WAIT_FOR)
    page.evaluate("waitFor('.auth-wrapper .btn.authorize').then(b => { b.click(); return 1; })")
    page.evaluate(
        "waitFor('input[data-name=clientId]').then(i => { typeInto(i, 'swagger'); "
        "typeInto(document.querySelector('input[data-name=clientSecret]'), 's3cret'); "
        "document.querySelector('.scopes a[data-all]').click(); return 1; })"
    )
    page.evaluate(
        "waitFor('.auth-btn-wrapper .btn.modal-btn.auth.authorize').then(b => { b.click(); "
        "return 1; })"
    )
    text: str = page.evaluate(
        "Promise.race([waitFor('.auth-btn-wrapper button', 'Logout'), "
        "waitFor('.modal-ux .errors')]).then(() => document.querySelector('.modal-ux').innerText)"
    )
    return text


@pytest.fixture
def okta_trusting_loopback() -> Iterator[MockIssuer]:
    with MockIssuer() as issuer:  # loopback origins are trusted by default
        issuer.register_client("swagger", "s3cret", scopes=["orders:read"])
        yield issuer


@pytest.fixture
def okta_trusting_elsewhere() -> Iterator[MockIssuer]:
    with MockIssuer(cors_origins=["https://docs.example.com"]) as issuer:
        issuer.register_client("swagger", "s3cret", scopes=["orders:read"])
        yield issuer


@pytest.fixture
def okta(request: pytest.FixtureRequest) -> MockIssuer:
    name = getattr(request, "param", "okta_trusting_loopback")
    issuer: MockIssuer = request.getfixturevalue(name)
    return issuer


def test_swagger_ui_authorize_then_call_a_protected_operation(
    browser: Browser, okta: MockIssuer, api_url: str
) -> None:
    assert httpx.get(f"{api_url}/orders", trust_env=False).status_code == 401
    page = browser.open(f"{api_url}/docs")
    dialog = _authorize(page)
    assert "Logout" in dialog, f"authorization failed: {dialog!r} {browser.console}"
    preflights = [r for r in okta.requests if r.method == "OPTIONS"]
    assert [(r.endpoint, r.status) for r in preflights] == [("token", 200)]
    assert preflights[0].headers["origin"] == api_url
    token_calls = [r for r in okta.requests if r.endpoint == "token" and r.method == "POST"]
    assert [r.status for r in token_calls] == [200]
    assert token_calls[0].auth_scheme == "Basic"

    page.evaluate("document.querySelector('.modal-ux .btn-done').click(); 1")
    page.evaluate(
        "waitFor('.opblock-get .opblock-summary-control').then(s => { s.click(); "
        "return waitFor('.try-out__btn'); }).then(b => { b.click(); "
        "return waitFor('.btn.execute'); }).then(b => { b.click(); return 1; })"
    )
    status = page.evaluate(
        "waitFor('.live-responses-table tr.response .response-col_status')"
        ".then(c => c.innerText.trim())"
    )
    body = page.evaluate(
        "waitFor('.live-responses-table tr.response .response-col_description pre')"
        ".then(p => p.innerText)"
    )
    assert status == "200"
    assert json.loads(body) == {"client": "swagger", "orders": [1, 2]}


@pytest.mark.parametrize("okta", ["okta_trusting_elsewhere"], indirect=True)
def test_without_a_trusted_origin_the_browser_gets_no_token(
    browser: Browser, okta: MockIssuer, api_url: str
) -> None:
    page = browser.open(f"{api_url}/docs")
    dialog = _authorize(page)
    assert "Logout" not in dialog
    assert "Auth Error" in dialog
    assert [(r.method, r.status) for r in okta.requests if r.endpoint == "token"] == [
        ("OPTIONS", 403)
    ]
