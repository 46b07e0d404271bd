"""A tiny Chrome DevTools Protocol client: start headless Chromium, open a page, run JS.

Only what the browser tests need: :func:`launch` starts Debian's ``chromium`` with
a fresh profile and ``--remote-debugging-port=0`` (Chromium prints the WebSocket
URL it chose on stderr), :meth:`Browser.open` creates a page and attaches to it,
and :meth:`Page.evaluate` runs an expression (awaiting promises) and returns its
value.  Speaks CDP over the ``websockets`` package's synchronous client.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from websockets.sync.client import ClientConnection, connect

__all__ = ["Browser", "Page", "launch"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or a page script threw."""


class Browser:
    """A connection to the browser target; commands are numbered and awaited one by one."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.console: list[str] = []

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and return its ``result`` (events meanwhile are kept as console)."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        while True:
            reply = json.loads(self._socket.recv(timeout=60))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._note(reply)

    def wait_event(self, method: str, session: str | None = None) -> dict[str, Any]:
        """Wait for the next event ``method`` (of ``session``); return its params."""
        while True:
            event = json.loads(self._socket.recv(timeout=60))
            if event.get("method") == method and event.get("sessionId") == session:
                params: dict[str, Any] = event.get("params", {})
                return params
            self._note(event)

    def _note(self, event: dict[str, Any]) -> None:
        if event.get("method") == "Runtime.consoleAPICalled":
            args = event["params"].get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        elif event.get("method") == "Runtime.exceptionThrown":
            self.console.append(str(event["params"]["exceptionDetails"].get("text")))

    def open(self, url: str) -> Page:
        """A new page showing ``url``."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.send("Runtime.enable")
        page.send("Page.enable")
        page.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", page.session)
        return page


class Page:
    """One attached page (a CDP session)."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command to this page."""
        return self._browser.send(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (awaiting a promise) and return its value."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"page script failed: {text}")
        return result["result"].get("value")


def _end(process: subprocess.Popen[str]) -> None:
    """Stop Chromium and the helper processes it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def chromium() -> str:
    """The Chromium executable (Debian's ``chromium`` package; CI installs it)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "the browser tests need Chromium: apt-get install -y chromium (.ci/run installs it)"
    )


@contextlib.contextmanager
def launch() -> Iterator[Browser]:
    """Start headless Chromium with a fresh profile; stop it and delete the profile after."""
    with tempfile.TemporaryDirectory(
        prefix="okta-guard-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its helper processes share this group, ended below
        )
        try:
            assert process.stderr is not None
            url = None
            for line in process.stderr:  # Chromium announces its endpoint on stderr
                match = _LISTENING.search(line)
                if match:
                    url = match.group(1)
                    break
            if url is None:
                raise RuntimeError(f"Chromium exited ({process.wait()}) before it listened")
            with connect(url, max_size=None, open_timeout=30) as socket:
                yield Browser(socket)
        finally:
            _end(process)
            if process.stderr is not None:
                process.stderr.close()
