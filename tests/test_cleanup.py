"""No mongod is left behind, and no MongoDB version banner is shown.

Kill tests: a real Python process calls ``use_private_database()`` and connects
FiftyOne (so ``mongod`` really runs), or runs ``labelkit demo --no-browser``; it
is sent SIGTERM / SIGINT / SIGHUP / SIGKILL (or exits normally), and the ``mongod``
PID must be gone within seconds. Banner tests run ``import labelkit; import
fiftyone; fo.list_datasets()`` in a fresh process and read its output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
BANNER = "oldest supported major version of MongoDB"

CHILD = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in an interactive Python
from labelkit.testing import private_database, use_private_database
use_private_database(prefix="labelkit-kill-test-")
import fiftyone as fo
fo.list_datasets()
db = private_database()
print("MONGOD", db.pid, db.dbpath, flush=True)
if sys.argv[1] == "wait":
    time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _kill_tree(proc: subprocess.Popen, extra: list[int]) -> None:
    """Leave nothing behind, whatever the test saw: kill by PID."""
    pids = list(extra)
    try:
        pids += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    for pid in [proc.pid, *pids]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; output:\n{''.join(seen)[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_private_database_mongod_is_gone_when_its_process_is_signalled(sig):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "wait"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    mongod = None
    try:
        m = _read_until(proc, r"MONGOD (\d+) (\S+)", 120)
        mongod, dbpath = int(m.group(1)), Path(m.group(2))
        descendants = {p.pid: p.name() for p in psutil.Process(proc.pid).children(recursive=True)}
        assert descendants.get(mongod, "").startswith("mongod"), descendants
        proc.send_signal(sig)
        proc.wait(30)
        assert _gone_within(mongod, 10), f"mongod {mongod} still runs after {sig.name}"
        if sig != signal.SIGKILL:  # handlers ran: the data folder is gone too
            assert not dbpath.exists()
            assert proc.returncode != 0
    finally:
        _kill_tree(proc, [mongod] if mongod else [])


def test_private_database_mongod_is_gone_after_a_normal_exit():
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "exit"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    mongod = None
    try:
        mongod = int(_read_until(proc, r"MONGOD (\d+)", 120).group(1))
        assert proc.wait(60) == 0
        assert _gone_within(mongod, 5)
    finally:
        _kill_tree(proc, [mongod] if mongod else [])


def test_sigint_that_the_program_catches_keeps_the_database():
    code = CHILD.replace('if sys.argv[1] == "wait":\n    time.sleep(300)', (
        "try:\n    time.sleep(300)\nexcept KeyboardInterrupt:\n"
        "    print('CAUGHT', len(fo.list_datasets()) >= 0, flush=True)\n"
    ))
    proc = subprocess.Popen([sys.executable, "-c", code, "wait"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    mongod = None
    try:
        mongod = int(_read_until(proc, r"MONGOD (\d+)", 120).group(1))
        proc.send_signal(signal.SIGINT)
        _read_until(proc, r"CAUGHT True", 60)  # the database still answered after Ctrl+C
        assert proc.wait(60) == 0
        assert _gone_within(mongod, 10)
    finally:
        _kill_tree(proc, [mongod] if mongod else [])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_leaves_no_mongod_and_no_jupyterlab_when_terminated(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIFTYONE_DATABASE_", "LABELKIT_QUIETED"))}
    env.update(
        FIFTYONE_DATABASE_DIR=str(tmp_path / "db"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
        PYTHONUNBUFFERED="1",
    )
    from labelkit.cli.demo import free_port

    port = free_port(18000 + os.getpid() % 1000)
    bin_ = Path(sys.executable).parent / "labelkit"
    proc = subprocess.Popen([str(bin_), "demo", "--no-browser", f"--port={port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    pids: list[int] = []
    try:
        m = _read_until(proc, r"embedded MongoDB \S+ \(mongod PID (\d+), (shared with)?", 180)
        if m.group(2):
            pytest.skip("another FiftyOne database service runs on this machine; the demo attached to it")
        mongod = int(m.group(1))
        pids.append(mongod)
        lab = int(_read_until(proc, r"JupyterLab PID (\d+)", 60).group(1))
        pids.append(lab)
        deadline = time.monotonic() + 120
        while True:  # JupyterLab really serves
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                break
            except OSError as exc:
                if "HTTP Error 403" in str(exc) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert _alive(mongod) and _alive(lab)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert _gone_within(lab, 20), f"JupyterLab {lab} still runs"
        assert _gone_within(mongod, 20), f"mongod {mongod} still runs"
    finally:
        _kill_tree(proc, pids)


def _run_python(code: str, env: dict[str, str], timeout: float = 180) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                       cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


@pytest.fixture
def clean_env(tmp_path):
    """This test run's environment without any database validation setting and without a config file."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FIFTYONE_DATABASE_VALIDATION", "LABELKIT_QUIETED_DATABASE_VALIDATION")}
    env["FIFTYONE_CONFIG_PATH"] = str(tmp_path / "no-config.json")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the embedded mongod's version is not cached yet
    return env


def _embedded(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k != "FIFTYONE_DATABASE_URI"}
    env["FIFTYONE_DATABASE_DIR"] = str(tmp_path / "embedded-db")
    return env


@pytest.mark.parametrize("code", [
    "import labelkit as lk, fiftyone as fo; fo.list_datasets()",
    "import fiftyone as fo, labelkit as lk; fo.list_datasets()",
], ids=["labelkit-first", "fiftyone-first"])
def test_no_version_banner_with_the_embedded_database(clean_env, tmp_path, code):
    out = _run_python(code, _embedded(clean_env, tmp_path))
    assert BANNER not in out, out


def test_no_version_banner_with_a_private_database(clean_env):
    code = ("from labelkit.testing import use_private_database; use_private_database(); "
            "import labelkit as lk, fiftyone as fo; fo.list_datasets()")
    out = _run_python(code, {k: v for k, v in clean_env.items() if k != "FIFTYONE_DATABASE_URI"})
    assert BANNER not in out, out


def test_children_of_a_private_database_process_inherit_the_setting(clean_env):
    code = ("import os, subprocess, sys\n"
            "from labelkit.testing import use_private_database; use_private_database()\n"
            "sys.exit(subprocess.call([sys.executable, '-c', 'import labelkit, fiftyone as fo; fo.list_datasets()']))")
    out = _run_python(code, {k: v for k, v in clean_env.items() if k != "FIFTYONE_DATABASE_URI"})
    assert BANNER not in out, out


def test_the_banner_stays_for_a_server_labelkit_did_not_start(clean_env):
    # this run's private server, named only by FIFTYONE_DATABASE_URI: for this process an unknown server
    assert clean_env.get("FIFTYONE_DATABASE_URI")
    out = _run_python("import labelkit as lk, fiftyone as fo; fo.list_datasets()", clean_env)
    assert BANNER in out


@pytest.mark.parametrize("where", ["env", "config-file"])
def test_a_users_own_database_validation_setting_is_kept(clean_env, tmp_path, where):
    env = _embedded(clean_env, tmp_path)
    if where == "env":
        env["FIFTYONE_DATABASE_VALIDATION"] = "true"
    else:
        Path(env["FIFTYONE_CONFIG_PATH"]).write_text(json.dumps({"database_validation": True}))
    code = "import labelkit as lk, fiftyone as fo; fo.list_datasets(); print('VALIDATION', fo.config.database_validation)"
    out = _run_python(code, env)
    assert "VALIDATION True" in out
    assert BANNER in out
