"""The labelkit command: doctor reports versions and problems; user mistakes are one clear line."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from labelkit.cli.doctor import Check, run_doctor

BIN = os.path.join(os.path.dirname(sys.executable), "labelkit")


def _run(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300, env=env or os.environ.copy())


def test_doctor_prints_versions_and_database_and_exits_zero():
    r = _run("doctor")
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    for what in ("labelkit 0.", "fiftyone 1.", "torch 2.", "torchvision 0.", "MongoDB 6.", "torch device: ", "sample model"):
        assert what in out, what
    assert "all checks passed" in out


def test_doctor_fails_with_a_fix_line_when_the_database_is_unreachable():
    env = os.environ.copy()
    env["FIFTYONE_DATABASE_URI"] = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500&connectTimeoutMS=500"
    r = _run("doctor", env=env)
    assert r.returncode == 1
    assert "FAIL  FiftyOne database does not answer" in r.stdout
    assert "fix: " in r.stdout and "FIFTYONE_DATABASE_URI" in r.stdout


def test_doctor_reports_a_missing_sample_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELKIT_SAMPLE_DATA", str(tmp_path))
    buf = io.StringIO()
    code = run_doctor(check_db=False, out=buf)
    assert code == 1
    assert "bundled sample model missing" in buf.getvalue()
    assert str(tmp_path / "models" / "sample_maskrcnn.pt") in buf.getvalue()


def test_check_line_shows_fix():
    assert "fix: do this" in Check("FAIL", "broken", "do this").line()


def test_user_mistake_is_one_clear_line_not_a_traceback():
    r = _run("export", "no-such-dataset-xyz", "/tmp/out")
    assert r.returncode == 2
    assert r.stderr.startswith("labelkit: error: no FiftyOne dataset named 'no-such-dataset-xyz'")
    assert "Traceback" not in r.stderr


def test_import_command_reports_skipped_files(tmp_path, dataset_name):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_bytes(b"")
    r = _run("import", str(tmp_path), "--dataset", dataset_name)
    assert r.returncode == 0, r.stderr
    assert "1 image(s) added" in r.stdout and "bad.jpg': file is empty" in r.stdout
