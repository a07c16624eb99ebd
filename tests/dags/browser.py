"""A headless Chromium driven over the DevTools protocol (CDP): enough to log in, click, type and take screenshots.

Why not Playwright: it downloads its own browsers at install time; Debian's ``chromium`` package plus the
``websockets`` client already in the venv is all this needs, and nothing is fetched while tests run.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_binary() -> str | None:
    """The system Chromium (``COLDREC_CHROMIUM`` first), or None when none is installed."""
    explicit = os.environ.get("COLDREC_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page; ``with Chromium(...) as page:`` stops it (and its children) at exit."""

    def __init__(self, binary: str, profile_dir: Path, width: int = 1440, height: int = 900) -> None:
        self.profile_dir = profile_dir
        profile_dir.mkdir(parents=True, exist_ok=True)
        (profile_dir / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile's is stale
        args = [
            binary,
            "--headless=new",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile_dir}",
            f"--window-size={width},{height}",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--hide-scrollbars",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.log = (profile_dir / "chromium.log").open("wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._ids = itertools.count(1)
        try:
            self.ws = self._connect(timeout=60)
        except BaseException:
            self._kill()
            raise
        self.send("Page.enable")
        self.send("Runtime.enable")

    def _connect(self, timeout: float):
        from websockets.sync.client import connect

        port_file = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BrowserError(f"chromium did not start: {(self.profile_dir / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.2)
        port = int(port_file.read_text().splitlines()[0])
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                    pages = [t for t in json.loads(resp.read()) if t.get("type") == "page"]
            except OSError:
                pages = []
            if pages:
                return connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
            if time.monotonic() > deadline:
                raise BrowserError("chromium has no page target")
            time.sleep(0.2)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        """One CDP command; events that arrive before its answer are dropped (nothing here listens to them)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its JSON value (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:200]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def wait_for(self, expression: str, timeout: float = 120, what: str | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy; its value is returned."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.eval(expression)
            except BrowserError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.eval("document.body ? document.body.innerText.slice(0, 1500) : ''")
                raise BrowserError(f"timed out waiting for {what or expression!r}; page text: {text!r}")
            time.sleep(0.5)

    def type_into(self, selector: str, text: str) -> None:
        """Replace an input's value as a user would (focus, select all, type): React sees real input events."""
        found = self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
            " e.focus(); if (e.select) e.select(); return true; })()"
        )
        if not found:
            raise BrowserError(f"no element {selector!r}")
        self.send("Input.insertText", {"text": text})

    def click_text(self, text: str, selector: str = "button, a, [role=button], [role=tab], label") -> None:
        """Click the first visible element matching ``selector`` whose text is exactly ``text``."""
        clicked = self.eval(
            f"(() => {{ const want = {json.dumps(text)};"
            f" const el = [...document.querySelectorAll({json.dumps(selector)})]"
            "   .find(e => e.innerText && e.innerText.trim() === want && e.offsetParent !== null);"
            " if (!el) return false; el.scrollIntoView({block: 'center'}); el.click(); return true; })()"
        )
        if not clicked:
            raise BrowserError(f"nothing to click with text {text!r}")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self._kill()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
