"""Fixtures for the browser test: a throw-away JupyterLab server and a headless Chromium.

* ``lab_server`` (module scope) copies ``notebooks/`` and ``quizzes/`` to a temporary folder
  (JupyterLab autosaves, so it must never touch the committed notebooks), starts
  ``jupyter lab`` on a free port with a random token, and stops it and its kernels at the end.
  The served root is that copy of ``notebooks/``.
* ``lecturer_folder`` (module scope) writes the lecturer's copies of the served chapters, with
  their speaker notes (``make lecturer``, ``tools/tag_slides.py``), to ``lecturer/`` inside
  the served root; it returns that folder's path relative to the root.
* ``page`` opens a fresh Playwright page (its own browser context) in Debian's Chromium for
  each test; the tests share the server, so each opens its notebook in a workspace of its
  own (``LabServer.workspace_url``) and the page's teardown shuts down the kernels. Without
  Chromium the test is skipped locally and fails on CI (``CI=true``), which must run it. On a
  failure the page's screenshot, the server log and the browser console are kept in the
  ``artifacts`` folder, named after the test and its notebook.

Environment variables:

* ``COURSE_BROWSER_NOTEBOOKS``: the folder of notebooks to serve (default: the repo's
  ``notebooks/``), to develop the test against a scratch notebook.
* ``COURSE_BROWSER_ARTIFACTS``: where to keep screenshots and logs (default: pytest's tmp dir).
* ``CHROMIUM``: the Chromium executable (default: ``chromium`` on the PATH).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 60
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps trying to reach Google's services (and logs every refusal).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# User settings for the server's JupyterLab: nothing may try the network (news feed, update
# check, extension manager), no toast may cover the widgets, the notebook's kernel starts
# without asking, and every cell stays in the DOM (the default windowing may leave
# off-screen cells unrendered).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,  # no "Select Kernel" dialog
    },
}


# --------------------------------------------------------------------------- failure report
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder for screenshots and logs."""
    folder = os.environ.get("COURSE_BROWSER_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- chromium
def unavailable(message: str) -> None:
    """Skip the test for lack of a tool, except on CI (``CI=true``), which must run it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test, but {message}", pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    """Debian's Chromium (or ``$CHROMIUM``), or None when there is none."""
    override = os.environ.get("CHROMIUM")
    if override:
        return override if Path(override).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium to drive; skips the test without one, except on CI where it fails."""
    path = find_chromium()
    if path is None:
        message = (
            "no Chromium browser found (looked for $CHROMIUM, `chromium`, /usr/bin/chromium); "
            "install it with `apt-get install chromium` (Debian) to run the browser test"
        )
        unavailable(message)
    return path


# --------------------------------------------------------------------------- jupyterlab
@dataclass
class LabServer:
    """A running JupyterLab: its base URL, token, served folder and log file."""

    url: str
    token: str
    root: Path
    quiz_dir: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> object:
        """Call the server's REST API; returns the decoded JSON (None when empty)."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method != "GET" else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def lab_url(self, path: str) -> str:
        """The URL of a lab page, e.g. ``lab_url("lab/tree/x.ipynb")``, logged in by token."""
        return f"{self.url}/{path}?token={self.token}"

    def workspace_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` alone, in a workspace of its own: the server is
        shared by the tests, and the default workspace would reopen the notebooks (and
        their kernels) of the tests before."""
        workspace = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(notebook).stem)
        return self.lab_url(f"lab/workspaces/test-{workspace}-{secrets.token_hex(4)}"
                            f"/tree/{quote(notebook)}")

    def shutdown_kernels(self) -> None:
        """Shut down every session and kernel, so the next test starts with an idle CPU."""
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE", timeout=30)
        for kernel in self.api("/api/kernels") or []:
            self.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=30)

    def log_tail(self, n_chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n_chars:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def wait_until_up(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {server.process.returncode}:\n"
                               f"{server.log_tail()}")
        try:
            server.api("/api/status", timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: LabServer) -> None:
    """Shut the server down with its kernels (REST first, then SIGTERM, then SIGKILL)."""
    process = server.process
    if process.poll() is None:
        try:
            server.api("/api/shutdown", method="POST", timeout=10)  # also shuts the kernels
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            lab_server.shutdown_kernels()
        for stop in (None, process.terminate, process.kill):
            if stop is not None:
                stop()
            try:
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a copy of the notebooks; ``COURSE_QUIZ_DIR`` is the copied quizzes."""
    notebooks = Path(os.environ.get("COURSE_BROWSER_NOTEBOOKS") or REPO / "notebooks")
    if not notebooks.is_dir():
        pytest.fail(f"no notebooks folder {notebooks}", pytrace=False)

    base = tmp_path_factory.mktemp("lab")
    course = base / "course"  # the repo's layout: course/notebooks, course/quizzes
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    root = Path(shutil.copytree(notebooks, course / "notebooks", ignore=ignore))
    quiz_dir = Path(shutil.copytree(REPO / "quizzes", course / "quizzes", ignore=ignore))
    write_lab_settings(base / "lab-settings")

    env = dict(os.environ)
    env.update(
        COURSE_QUIZ_DIR=str(quiz_dir),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "lab-workspaces"),
        PYTHONUNBUFFERED="1",
    )
    port, token = free_port(), secrets.token_hex(24)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        # No news feed and no update check: the server must not try the network.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")

    log = base / "jupyter-lab.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    server = LabServer(url=f"http://127.0.0.1:{port}", token=token, root=root,
                       quiz_dir=quiz_dir, log=log, process=process)
    try:
        wait_until_up(server, SERVER_START_TIMEOUT_S)
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def lecturer_folder(lab_server: LabServer) -> str:
    """The lecturer's copies of the served chapters (``make lecturer`` writes them to
    ``build/lecturer``), in ``lecturer/`` under the server's root, which must hold them to
    open them; returns ``"lecturer"``."""
    import tag_slides  # tools/ is on sys.path (tests/conftest.py)

    chapters = sorted(lab_server.root.glob("[0-9][0-9]_*.ipynb"))
    tag_slides.write_lecturer_copies(chapters, lab_server.root / "lecturer")
    return "lecturer"


# --------------------------------------------------------------------------- playwright
@pytest.fixture(scope="module")
def browser(chromium_executable: str):
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("the playwright package is missing; `pip install -e .[dev]` installs it")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable,
                                             headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_if_failed(page, request: pytest.FixtureRequest, artifacts: Path) -> str | None:
    """After a failed test, keep a screenshot of ``page`` in ``artifacts``; returns the name
    the test's artifacts share (e.g. test_chapter_in_jupyterlab-02_seq2seq_attention.ipynb),
    or None when the test passed."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and not report.failed:
        return None
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    try:
        page.screenshot(path=artifacts / f"{name}.png", full_page=True)
    except Exception as exc:  # the page may be gone; the logs still help
        print(f"could not take a screenshot: {exc}")
    return name


@pytest.fixture
def page(browser, lab_server: LabServer, artifacts: Path, request: pytest.FixtureRequest):
    """A fresh page; only the lab server may be reached. Screenshot + log kept on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []
    console_errors: list[str] = []
    local = urlparse(lab_server.url).netloc

    def only_local(route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("http", "https", "ws", "wss") and \
                urlparse(url).netloc != local:
            blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("console", lambda msg: console_errors.append(msg.text)
            if msg.type == "error" else None)
    try:
        yield page
    finally:
        name = screenshot_if_failed(page, request, artifacts)
        if name:
            shutil.copy(lab_server.log, artifacts / f"{name}-jupyter-lab.log")
            (artifacts / f"{name}-browser-console.txt").write_text("\n".join(console_errors))
            print(f"\nbrowser test artifacts (screenshot, server log, console): {artifacts}")
        if blocked:
            print(f"\nblocked requests to the outside: {sorted(set(blocked))}")
        context.close()
        try:  # a fresh kernel for the next test, and none left busy by a failed one
            lab_server.shutdown_kernels()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            print(f"\ncould not shut down the kernels: {exc}")


@pytest.fixture
def offline_page(browser, artifacts: Path, request: pytest.FixtureRequest):
    """A fresh page with no network at all: every http(s) or websocket request is aborted
    and listed in ``page.blocked`` (the decks and the site are opened as ``file://`` URLs).
    A screenshot is kept on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    blocked: list[str] = []

    def no_network(route) -> None:
        if urlparse(route.request.url).scheme in ("http", "https", "ws", "wss"):
            blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", no_network)
    page = context.new_page()
    page.blocked = blocked
    try:
        yield page
    finally:
        if screenshot_if_failed(page, request, artifacts):
            print(f"\nscreenshot kept in {artifacts}")
        context.close()
