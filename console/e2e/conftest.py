"""The console's end-to-end journeys: fixtures.

Each journey gets a fresh `avvio dev` (the binary `scripts/test` built, named by `AVVIO_BIN`)
on a random loopback port, with a stand-in Graph API beside it, and a fresh browser context
of Debian's Chromium (`/usr/bin/chromium`, never a downloaded browser). Everything the
journey does is watched: a console message of type error, an uncaught page error, or a
request to any host but the server's fails it. Each journey leaves a full-page screenshot
under `target/console-screens/`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "target" / "console-screens"
CHROMIUM = os.environ.get("AVVIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

API_KEY = "dev-api-key"  # `avvio dev`'s default (AVVIO_API_KEY unset)
APP_SECRET = "e2e-app-secret"  # WHATSAPP_APP_SECRET: signs the webhooks (and the console's sessions)
PHONE_NUMBER_ID = json.loads((ROOT / "examples" / "workspace.json").read_text())["whatsapp"]["phone_number_id"]
CONTACT = "393331234567"
CONTACT_NAME = "Mario Rossi"

expect.set_options(timeout=10_000)


def examples(without: tuple[str, ...] = ()) -> list[dict]:
    """The example automations, less the ids in `without`."""
    documents = json.loads((ROOT / "examples" / "automations.json").read_text())
    return [d for d in documents if d["id"] not in without]


# --- a stand-in Graph API -----------------------------------------------------------------


class StandInGraph:
    """Answers every send like Meta on success and keeps what it received."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self._lock = threading.Lock()
        graph = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with graph._lock:
                    graph.sent.append({"path": self.path, "body": body})
                    count = len(graph.sent)
                to = (body or {}).get("to", "")
                reply = json.dumps({
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.standin.{count}"}],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, within: float = 10.0) -> list[dict]:
        """Waits until `n` sends arrived and returns their bodies."""
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                sent = [s["body"] for s in self.sent]
            if len(sent) >= n:
                return sent
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(sent)} of {n} sends reached the stand-in Graph API: {sent}")
            time.sleep(0.02)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- avvio dev ----------------------------------------------------------------------------


class Avvio:
    """`avvio dev --port 0` on the examples' workspace, sending to a stand-in Graph API."""

    def __init__(self, binary: Path, workdir: Path, automations: list[dict] | None) -> None:
        self.graph = StandInGraph()
        command = [str(binary), "dev", "--port", "0"]
        if automations is not None:
            path = workdir / "automations.json"
            path.write_text(json.dumps(automations, ensure_ascii=False))
            command += ["--automations", str(path)]
        env = {k: v for k, v in os.environ.items() if k not in ("AVVIO_API_KEY", "WHATSAPP_VERIFY_TOKEN")}
        env.update(
            WHATSAPP_API_BASE=self.graph.base,
            WHATSAPP_ACCESS_TOKEN="e2e-token",
            WHATSAPP_APP_SECRET=APP_SECRET,
        )
        self.log: list[str] = []
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        listening: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:  # keeps reading so the server never blocks on a full pipe
            for line in self.process.stderr:
                self.log.append(line.rstrip("\n"))
                if line.startswith("avvio dev: listening on "):
                    listening.put(line.removeprefix("avvio dev: listening on ").strip())
            listening.put(None)

        threading.Thread(target=drain, daemon=True).start()
        try:
            base = listening.get(timeout=30)
        except queue.Empty:
            base = None
        if base is None:
            self.stop()
            raise RuntimeError("avvio dev did not start:\n" + "\n".join(self.log))
        self.base = base  # http://127.0.0.1:PORT
        self.host = urlsplit(base).netloc
        self.console = f"{base}/console/"

    def webhook(self, message: dict) -> None:
        """Posts Meta's webhook with one message from the contact, signed as Meta signs it."""
        message = {"from": CONTACT, "id": f"wamid.e2e.{time.time_ns()}", "timestamp": str(int(time.time())), **message}
        body = json.dumps({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "390212345678", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [{"profile": {"name": CONTACT_NAME}, "wa_id": CONTACT}],
                "messages": [message],
            }}]}],
        }).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        request = Request(f"{self.base}/webhooks/whatsapp", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        with urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status

    def text(self, text: str) -> None:
        self.webhook({"type": "text", "text": {"body": text}})

    def press(self, button_id: str, title: str) -> None:
        """The contact presses a reply button."""
        self.webhook({"type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": button_id, "title": title}}})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.graph.close()


@pytest.fixture(scope="session")
def avvio_bin() -> Path:
    binary = Path(os.environ.get("AVVIO_BIN", ROOT / "target" / "debug" / "avvio"))
    if not binary.is_absolute():
        binary = ROOT / binary
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it first (`cargo build -p avvio`) or set AVVIO_BIN")
    return binary


@pytest.fixture
def start_avvio(avvio_bin: Path, tmp_path: Path):
    """Starts a fresh `avvio dev`: `start_avvio()` on the examples, `start_avvio(documents)` on others."""
    servers: list[Avvio] = []

    def start(automations: list[dict] | None = None) -> Avvio:
        server = Avvio(avvio_bin, tmp_path, automations)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def fresh_screens() -> None:
    """The screenshots of this run only."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for old in SCREENS.glob("*.png"):
        old.unlink()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Journey:
    """A browser context on one server, and what it must not do."""

    def __init__(self, name: str, browser: Browser, server: Avvio) -> None:
        self.name = name
        self.server = server
        self.context: BrowserContext = browser.new_context(
            locale="en-US", timezone_id="Europe/Rome", viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(10_000)
        self.problems: list[str] = []
        self.console_errors: list[tuple[str, str]] = []  # (text, the URL it is about)
        self.refusals: set[tuple[str, int]] = set()  # (URL, status) the journey expected
        self.context.on("console", self._console)
        self.context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        self.context.on("request", self._request)
        self.page: Page = self.context.new_page()

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, message.location.get("url", "")))

    @contextmanager
    def refused(self, status: int):
        """Expects the block to get one answer `status` (a refused form, shown again with its
        reason). Chromium logs every 4xx answer as "Failed to load resource": that line, for
        that answer, is not a console error of the page."""
        with self.page.expect_response(lambda r: r.request.method == "POST") as answer:
            yield
        assert answer.value.status == status, f"{answer.value.url} answered {answer.value.status}, not {status}"
        self.refusals.add((answer.value.url, status))

    def unexpected(self) -> list[str]:
        """Every problem seen: console errors (less the refusals expected), page errors, requests elsewhere."""
        problems = list(self.problems)
        for text, url in self.console_errors:
            status = re.fullmatch(r"Failed to load resource: the server responded with a status of (\d+) .*", text)
            if status and (url, int(status[1])) in self.refusals:
                continue
            problems.append(f"console error ({url}): {text}")
        return problems

    def _request(self, request) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("data", "blob", "about"):
            return
        if url.netloc != self.server.host:
            self.problems.append(f"request to another host: {request.method} {request.url}")

    def url(self, path: str = "") -> str:
        return self.server.console + path

    def sign_in(self, key: str = API_KEY) -> None:
        self.page.goto(self.url("automations"))
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page).to_have_url(self.url("automations"))

    def screenshot(self, suffix: str = "", of=None) -> Path:
        """`target/console-screens/<journey><suffix>.png`: the full page, or the element `of`."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{self.name}{suffix}.png"
        if of is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            of.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def journey(request, browser: Browser, start_avvio):
    """`journey(server)`: a fresh browser context on `server`, named after the test."""
    journeys: list[Journey] = []

    def open_journey(server: Avvio) -> Journey:
        name = request.node.get_closest_marker("journey").args[0]
        j = Journey(name, browser, server)
        journeys.append(j)
        return j

    yield open_journey
    failed = getattr(request.node, "report_call", None)
    for j in journeys:
        if failed is not None and failed.failed:
            try:
                j.screenshot("-failed")
            except Exception:  # noqa: BLE001 (a screenshot must not hide the failure)
                pass
        problems = j.unexpected()
        j.close()
        assert not problems, "\n".join(problems)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "journey(name): the journey's name, for its screenshot")
