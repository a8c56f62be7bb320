"""JupyterLab in a real browser, for the tests: a ``jupyter lab`` server on temporary copies
and a page object that drives it with Playwright and the system's Chromium.

- :func:`chromium_or_skip` finds the browser (``$CHROMIUM_PATH``, else ``chromium`` on the
  PATH) and Playwright; when either is missing the test is skipped with a message saying
  how to install them, except in CI (``CI=true``), where it fails.
- :class:`LabServer` starts ``jupyter lab`` from this environment on a free port with a
  random token, a temporary HOME, Jupyter config and user-settings folders, and a
  temporary root folder (the student's home): nothing of the developer's own set-up is
  used and nothing is written into the repository. Like a student's, it reads the course's
  JupyterLab settings (no news, no update checks, the course kernel) from the environment's
  ``share/jupyter/lab/settings/overrides.json``, which it first brings up to date with
  ``resnet_utils.labsettings.install`` (what ``make venv`` and ``binder/postBuild`` run).
- :class:`LabPage` is what a student does in the browser: open a notebook, Run All,
  wait until the kernel is idle, read the cells' outputs, click nbgrader's Validate
  button, fetch and submit in nbgrader's Assignments panel.

Playwright never downloads a browser here (no ``playwright install``): it launches the
Debian ``chromium`` with ``executable_path``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from resnet_utils import labsettings

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".pytest-artifacts" / "browser"

#: Chromium flags: no sandbox (root in CI containers), no GPU, and none of the background
#: connections (updates, sync, QUIC) that a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

INSTALL_HINT = ("install it with `apt-get install -y chromium` (or set CHROMIUM_PATH to a Chromium/Chrome "
                "binary) and `pip install -r requirements.txt -c constraints.txt` (Playwright); "
                "never `playwright install`")

#: JupyterLab's user settings for the tests: every cell is drawn (JupyterLab 4 otherwise
#: draws only the cells in view, so outputs further down are not in the page). Nothing
#: else: no news, no update checks and the course kernel come from the course's overrides
#: (resnet_utils/labsettings.py), which the server reads as a student's does.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

#: What JupyterLab renders a stderr stream (and an error's traceback) with.
STDERR_SELECTOR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'

#: A JavaScript expression: the visible notebook's kernel is there, connected and idle. The
#: toolbar's execution indicator alone says "idle" before the kernel has even started.
KERNEL_IDLE_JS = """(() => {
    const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
    const bar = [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
        .map(e => e.textContent.trim());
    return !!ind && ind.getAttribute('data-status') === 'idle'
        && bar.some(t => /\\|\\s*Idle$/.test(t) && !t.startsWith('No Kernel'));
})()"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def chromium_path() -> str | None:
    """``$CHROMIUM_PATH`` when set, else ``chromium`` (or ``chromium-browser``) on the PATH."""
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_or_skip() -> str:
    """The browser's path; skips the test (fails it in CI) when the browser or Playwright is missing."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        problems.append(f"Playwright is not installed ({err})")
    path = chromium_path()
    if path is None:
        where = os.environ.get("CHROMIUM_PATH")
        problems.append(f"CHROMIUM_PATH={where} is not an executable" if where
                        else "no Chromium found (`chromium` is not on the PATH)")
    if not problems:
        return path
    message = "browser tests of JupyterLab need a browser: " + "; ".join(problems) + ": " + INSTALL_HINT
    if in_ci() and not os.environ.get("BROWSER_UNAVAILABLE"):
        pytest.fail(message + " (CI=true: a missing browser is a failure, not a skip)", pytrace=False)
    if os.environ.get("BROWSER_UNAVAILABLE"):
        message += " [.ci/run: %s]" % os.environ["BROWSER_UNAVAILABLE"]
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- the server


@dataclass
class LabServer:
    """``jupyter lab`` on ``root`` (a temporary folder) with its own HOME and settings.

    ``env``: variables for the server (and so for the kernels it starts). The server's
    environment is the test's minus what would hide a student's problems: no
    ``TF_CPP_MIN_LOG_LEVEL`` (``make`` exports it; a student's ``jupyter lab`` does not
    have it, so the kernel must quiet TensorFlow itself) and no nbgrader variables.
    """

    base: Path
    env: dict = field(default_factory=dict)
    timeout: float = 120.0

    def __post_init__(self):
        self.base = Path(self.base)
        self.root = self.base / "root"
        self.home = self.base / "home"
        self.log_path = self.base / "jupyter-lab.log"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def config_dir(self) -> Path:
        return self.home / ".jupyter"

    @property
    def app_dir(self) -> Path:
        """JupyterLab's application folder, the environment's (the server runs without
        ``JUPYTERLAB_DIR``): its ``settings/overrides.json`` holds the course's settings."""
        return Path(sys.prefix) / "share" / "jupyter" / "lab"

    def server_env(self) -> dict:
        env = dict(os.environ)
        for name in ("TF_CPP_MIN_LOG_LEVEL", "NBGRADER_EXECUTION", "JUPYTER_PATH", "JUPYTER_DATA_DIR",
                     "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_DIR", "PYTHONPATH"):
            env.pop(name, None)
        env.update({
            "HOME": str(self.home),
            "JUPYTER_CONFIG_DIR": str(self.config_dir),
            "JUPYTERLAB_SETTINGS_DIR": str(self.home / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "lab-workspaces"),
            "JUPYTER_PREFER_ENV_PATH": "1",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        })
        env.update({k: str(v) for k, v in self.env.items()})
        return env

    def start(self) -> LabServer:
        labsettings.install(self.app_dir)  # idempotent: the file a student's JupyterLab reads
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        settings = self.home / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value, indent=1))
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.allow_root=True",
               "--ServerApp.open_browser=False"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.server_env(), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jupyter lab did not answer within {self.timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def api(self, path: str):
        """GET ``/api/<path>`` of the server, decoded JSON."""
        return self.get_json(f"api/{path}")

    def get_json(self, path: str):
        """GET ``/<path>`` of the server (``api/sessions``, ``lab/api/settings/<plugin id>``), decoded JSON."""
        with urllib.request.urlopen(f"{self.url}/{path}?token={self.token}", timeout=30) as r:
            return json.loads(r.read())

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and the kernels it started (its whole process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ----------------------------------------------------------------------------- the browser


def launch_browser(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)


class LabPage:
    """One JupyterLab tab: what a student clicks and sees."""

    _workspaces = 0

    def __init__(self, page, server: LabServer):
        self.page = page
        self.server = server
        # a workspace of its own: JupyterLab would otherwise reopen what earlier tabs had open
        LabPage._workspaces += 1
        self.workspace = f"test{LabPage._workspaces}"

    def _url(self, tree: str = "") -> str:
        path = f"/lab/workspaces/{self.workspace}" + (f"/tree/{tree}" if tree else "")
        return f"{self.server.url}{path}?reset&token={self.server.token}"

    # --- opening

    def open_lab(self) -> None:
        self.page.goto(self._url())
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        self.page.wait_for_selector("#jp-top-panel .lm-MenuBar-item", timeout=60_000)

    def open_notebook(self, path: str) -> None:
        """Open ``path`` (relative to the server's root) and wait until its kernel is idle.
        Fails at once, with its text, when a dialog comes up instead (e.g. "Select Kernel")."""
        self.page.goto(self._url(path))
        self.page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell", timeout=120_000)
        self.page.wait_for_function(f"() => {KERNEL_IDLE_JS} || !!document.querySelector('.jp-Dialog')",
                                    timeout=180_000, polling=200)
        dialogs = self.page.locator(".jp-Dialog").all_inner_texts()
        assert not dialogs, f"opening {path}: a dialog came up instead of an idle kernel:\n" + "\n---\n".join(dialogs)
        self.wait_kernel_idle(timeout=180)

    def kernel_label(self) -> str | None:
        """The kernel's name as the status bar shows it ("Python 3 (ResNet Course)"; None: no kernel item)."""
        return self.page.evaluate(
            """() => { const t = [...document.querySelectorAll('#jp-main-statusbar .jp-StatusBar-TextItem')]
                   .map(e => e.textContent.trim()).find(t => /\\|\\s*\\w+$/.test(t));
                 return t ? t.replace(/\\s*\\|\\s*\\w+$/, '') : null; }""")

    def body_text(self) -> str:
        """Everything the page shows as text (notifications included)."""
        return self.page.evaluate("() => document.body.innerText")

    def toasts(self) -> list[str]:
        """The text of every notification toast on screen."""
        return self.page.locator(".Toastify__toast").all_inner_texts()

    @property
    def notebook(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")

    def kernel_status(self) -> str | None:
        """The notebook toolbar's execution indicator: 'idle', 'busy', ... (None: not there).
        It says 'idle' before any kernel is there too: :meth:`wait_kernel_idle` also reads
        the status bar."""
        return self.page.evaluate(
            """() => { const el = document.querySelector(
                   '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                 return el ? el.getAttribute('data-status') : null; }""")

    def wait_kernel_idle(self, timeout: float = 180) -> None:
        """Wait until the notebook's kernel is started, connected and idle: the status bar
        says "<kernel> | Idle" (not "No Kernel"), the toolbar's indicator says idle."""
        self.page.wait_for_function(f"() => {KERNEL_IDLE_JS}", timeout=timeout * 1000, polling=200)

    # --- running

    def run_all(self, timeout: float = 600) -> None:
        """Run → Run All Cells, then wait until no cell is queued or running and the kernel is idle."""
        self.click_menu("Run", "Run All Cells")
        self.wait_run_finished(timeout)

    def wait_run_finished(self, timeout: float = 600) -> None:
        """Wait until a run has started (a prompt shows [*] or a number) and then ended: no
        prompt shows [*] and the kernel is idle (:meth:`wait_kernel_idle`)."""
        self.page.wait_for_function(
            """() => [...document.querySelectorAll(
                   '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
                 .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""", timeout=60_000, polling=200)
        self.page.wait_for_function(
            f"""() => {{ const busy = [...document.querySelectorAll(
                   '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
                     .some(p => p.textContent.includes('[*]'));
                 return !busy && {KERNEL_IDLE_JS}; }}""",
            timeout=timeout * 1000, polling=250)

    def click_menu(self, menu: str, item: str) -> None:
        """Click ``menu`` in the menu bar, then its entry ``item``."""
        self.page.locator("#jp-top-panel .lm-MenuBar-itemLabel", has_text=menu).first.click()
        self.page.locator(".lm-Menu-content .lm-Menu-itemLabel").get_by_text(item, exact=True).first.click()

    # --- reading the notebook

    def cells(self) -> list[dict]:
        """Every cell: its type, prompt, source text, output text, the number of images and
        of stderr blocks in its outputs."""
        return self.page.evaluate(
            """(sel) => [...document.querySelectorAll(
                   '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook > .jp-Cell, '
                 + '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-viewport > .jp-Cell')].map(c => ({
                 type: c.classList.contains('jp-CodeCell') ? 'code' : (c.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw'),
                 prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent || '',
                 source: [...c.querySelectorAll('.jp-InputArea .cm-line')].map(l => l.textContent).join('\\n'),
                 output: [...c.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n'),
                 stderr: [...c.querySelectorAll(sel)].map(o => o.innerText),
                 errors: c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').length,
                 images: c.querySelectorAll('.jp-OutputArea-output img').length,
                 images_loaded: [...c.querySelectorAll('.jp-OutputArea-output img')]
                     .filter(i => i.complete && i.naturalWidth > 0).length,
               }))""", STDERR_SELECTOR)

    def stderr_blocks(self) -> list[str]:
        """The text of every stderr (or error) block anywhere in the notebook's outputs."""
        return self.notebook.locator(STDERR_SELECTOR).all_inner_texts()

    # --- nbgrader

    def validate(self, timeout: float = 600) -> dict:
        """Click the notebook toolbar's Validate (nbgrader) and read the result dialog:
        ``{"title", "text", "classes"}`` (classes of the dialog body: validation-success, ...)."""
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first.click()
        dialog = self.page.locator(".jp-Dialog").last
        dialog.wait_for(timeout=timeout * 1000)
        title = dialog.locator(".jp-Dialog-header").inner_text()
        body = dialog.locator(".jp-Dialog-body")
        text = body.inner_text()
        classes = self.page.evaluate(
            "() => [...document.querySelectorAll('.jp-Dialog .jp-Dialog-body, .jp-Dialog .jp-Dialog-body *')].flatMap(e => [...e.classList])")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        dialog.wait_for(state="detached", timeout=30_000)
        return {"title": title.strip(), "text": text, "classes": sorted(set(classes))}

    def open_assignments(self) -> None:
        """Nbgrader → Assignment List: nbgrader's Assignments panel."""
        self.click_menu("Nbgrader", "Assignment List")
        self.page.wait_for_selector("#nbgrader-assignment-list #released_assignments_list", timeout=60_000)

    def assignment_row(self, list_id: str, assignment: str):
        return self.page.locator(f"#{list_id} .list_item", has_text=assignment).first

    def fetch(self, assignment: str, timeout: float = 120) -> None:
        row = self.assignment_row("released_assignments_list", assignment)
        row.wait_for(timeout=timeout * 1000)
        row.get_by_role("button", name="Fetch", exact=True).click()
        self.assignment_row("fetched_assignments_list", assignment).wait_for(timeout=timeout * 1000)

    def submit(self, assignment: str, timeout: float = 120) -> None:
        row = self.assignment_row("fetched_assignments_list", assignment)
        before = self.page.locator("#submitted_assignments_list .list_item").count()
        row.get_by_role("button", name="Submit", exact=True).first.click()
        self.page.wait_for_function(
            "(n) => document.querySelectorAll('#submitted_assignments_list .list_item').length > n",
            arg=before, timeout=timeout * 1000)


# ----------------------------------------------------------------------------- failures


def save_failure_artifacts(page, name: str) -> list[Path]:
    """A screenshot and the page's HTML under ``.pytest-artifacts/browser/`` (paths returned)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:150]
    saved = []
    try:
        shot = ARTIFACTS / f"{safe}.png"
        page.screenshot(path=str(shot), full_page=True, timeout=30_000)
        saved.append(shot)
    except Exception:  # noqa: BLE001 - a failure report must not fail itself
        pass
    try:
        html = ARTIFACTS / f"{safe}.html"
        html.write_text(page.content(), encoding="utf-8")
        saved.append(html)
    except Exception:  # noqa: BLE001
        pass
    return saved
