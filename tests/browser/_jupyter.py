"""Start-up code for browser tests: JupyterLab on a free port, headless Chromium, Run All.

The same steps as ``test_labeler_browser.py`` and ``test_video_browser.py`` (which
keep their own copies): JupyterLab with news, update checks and the kernel dialog
switched off, rooted in a temporary folder, its kernels inheriting this process's
private FiftyOne database; Debian's ``/usr/bin/chromium`` (never ``playwright
install``) with ``--no-sandbox``. Without Chromium or Playwright a test is skipped,
unless ``LABELKIT_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LABELKIT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
]
_SETTINGS = {
    "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false, "doNotDisturbMode": true}',
    # start the notebook's kernel without the "Select Kernel" dialog
    "notebook-extension/tracker": '{"autoStartDefaultKernel": true}',
}


def missing() -> str | None:
    """Why a browser test cannot run here (None: it can)."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    return None


def require_browser() -> None:
    """Skip the test when the browser is missing; fail instead with ``LABELKIT_REQUIRE_BROWSER=1``."""
    why = missing()
    if why:
        if os.environ.get("LABELKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but cannot run: {why}")
        pytest.skip(why)


def free_port() -> int:
    """A TCP port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code ``cells`` with the ``python3`` kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


#: the front ends a browser test can start: the server module and the notebook URL path
FRONT_ENDS = {"jupyterlab": ("jupyterlab", "lab/tree"), "notebook7": ("notebook", "notebooks")}


@contextlib.contextmanager
def jupyter_lab(
    tmp_path: Path, root: Path, env: dict[str, str] | None = None, app: str = "jupyterlab",
) -> Iterator[dict]:
    """JupyterLab (or, with ``app="notebook7"``, Notebook 7) serving ``root`` on a free
    port until the ``with`` block ends.

    Yields ``{"url", "token", "log", "app", "started_s"}`` (``started_s``: seconds
    until the server answered); ``env`` is added to this process's environment for
    the server and its kernels.
    """
    module, _ = FRONT_ENDS[app]
    settings = tmp_path / "lab-settings"
    for ext, text in _SETTINGS.items():
        folder, name = ext.split("/")
        d = settings / "@jupyterlab" / folder
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.jupyterlab-settings").write_text(text)
    port, token = free_port(), secrets.token_hex(16)
    full_env = dict(os.environ)
    full_env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        FIFTYONE_DO_NOT_TRACK="true",
    )
    full_env.update(env or {})  # the caller's values win (also over the ones above)
    log_path = tmp_path / "jupyterlab.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    lab_only = [
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ] if module == "jupyterlab" else []
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", module, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
            "--ServerApp.terminals_enabled=False", *lab_only,
        ],
        env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {log_path.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{module} did not start within 90 s")
        yield {"url": url, "token": token, "log": log_path, "app": app, "started_s": time.monotonic() - t0}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for(pred, timeout: float, what: str, interval: float = 0.5):
    """Poll ``pred()`` until it is truthy (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def dismiss(page) -> None:
    """Close any dialog or notification toast JupyterLab may show."""
    for sel in (".jp-Dialog .jp-mod-accept", ".jp-Dialog .jp-mod-reject"):
        btn = page.locator(sel)
        if btn.count():
            btn.first.click()
    for close in page.locator(".Toastify__close-button").all():
        try:
            close.click(timeout=1000)
        except Exception:  # noqa: BLE001 - a toast may vanish on its own
            pass


def launch_chromium(playwright):
    """Headless Debian Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_and_run_all(page, lab: dict, notebook: str, workspace: str | None = None) -> None:
    """Open ``notebook`` (a path under the lab's root) and start Run > Run All Cells
    once its kernel is idle.

    ``workspace``: open it in that (fresh) JupyterLab workspace, so several tabs of
    one server each show only their own notebook (JupyterLab otherwise restores
    the notebooks another tab opened).
    """
    where = f"workspaces/{workspace}/tree" if workspace else "tree"
    reset = "reset&" if workspace else ""
    page.goto(f"{lab['url']}/lab/{where}/{notebook}?{reset}token={lab['token']}", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
    page.wait_for_timeout(1000)
    dismiss(page)  # e.g. a kernel selection dialog, should one appear
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def kernels(server: dict) -> list[dict]:
    """The server's running kernels (its REST API: id, execution_state, ...)."""
    import json

    with urllib.request.urlopen(f"{server['url']}/api/kernels?token={server['token']}", timeout=10) as r:
        return json.loads(r.read())


def shutdown_kernels(server: dict) -> None:
    """Stop every kernel of the server (its REST API)."""
    for k in kernels(server):
        req = urllib.request.Request(
            f"{server['url']}/api/kernels/{k['id']}?token={server['token']}", method="DELETE",
        )
        urllib.request.urlopen(req, timeout=30).close()


def open_notebook(page, server: dict, notebook: str) -> None:
    """Open ``notebook`` (a path under the server's root) in the server's front end
    (JupyterLab or Notebook 7) and wait until its kernel is idle (asked from the
    server, so the same in both front ends)."""
    app = server.get("app", "jupyterlab")
    _, path = FRONT_ENDS[app]
    reset = "reset&" if app == "jupyterlab" else ""  # not the tabs a previous page left open
    page.goto(f"{server['url']}/{path}/{notebook}?{reset}token={server['token']}", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden)", timeout=120_000)
    page.wait_for_timeout(500)
    dismiss(page)  # e.g. a kernel selection dialog, should one appear

    def idle() -> bool:
        try:
            return any(k["execution_state"] == "idle" for k in kernels(server))
        except OSError:  # e.g. a 500 while the kernel is still starting: ask again
            return False

    wait_for(idle, 120, "an idle kernel")


def run_all(page) -> None:
    """Run > Run All Cells (the same menu in JupyterLab 4 and Notebook 7)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def render_marker(page, canvas: str = "canvas.labelkit-canvas") -> int:
    """The Labeler's render count as the page shows it (its ``labelkit-render-<n>``
    class; 0 before the first render)."""
    return page.evaluate(
        """(sel) => { const c = document.querySelector(sel); if (!c) return 0;
        const m = [...c.classList].find(x => x.startsWith('labelkit-render-'));
        return m ? parseInt(m.slice(16)) : 0; }""",
        canvas,
    )


def wait_for_render(page, after: int, timeout_ms: int = 60_000, canvas: str = "canvas.labelkit-canvas") -> int:
    """Wait until the Labeler rendered past ``after`` (its marker), then one animation
    frame so the pixels are on screen; returns the new render count."""
    page.wait_for_function(
        """([sel, after]) => { const c = document.querySelector(sel); if (!c) return false;
        const m = [...c.classList].find(x => x.startsWith('labelkit-render-'));
        return m && parseInt(m.slice(16)) > after; }""",
        arg=[canvas, after], timeout=timeout_ms,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
    return render_marker(page, canvas)
