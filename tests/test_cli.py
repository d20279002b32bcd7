"""The labelkit command: doctor reports versions and problems; user mistakes are one clear line."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

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


# ------------------------------------------------------------ propose --engine


def _tiny_images(folder, n=4):
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 40, (64, 80, 3), np.uint8)
        img[10 + 3 * i:40, 15:50 + i] = 200
        Image.fromarray(img).save(folder / f"img_{i}.png")
    return folder


def test_propose_on_ray_from_the_command_line(tmp_path, dataset_name, capsys):
    """One real run: --engine ray on a local 2-CPU Ray (started here, as in
    tests/test_propose_ray.py), a tiny checkpoint rebuilt on the worker from its path."""
    ray = pytest.importorskip("ray")
    import fiftyone as fo
    from test_models import _compact_proposer

    import labelkit.models as lkm
    from labelkit.cli.main import main

    ckpt = lkm.save_checkpoint(_compact_proposer(), tmp_path / "tiny.pt")
    folder = _tiny_images(tmp_path / "imgs")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        rc = main(["propose", str(folder), "--dataset", dataset_name, "--model", str(ckpt), "--device", "cpu",
                   "--min-confidence", "0.5", "--engine", "ray", "--num-workers", "1",
                   "--num-gpus-per-worker", "0", "--batch-size", "2"])
    finally:
        ray.shutdown()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "4 image(s) added" in out and "engine: ray, 1 worker(s)" in out
    ds = fo.load_dataset(dataset_name)
    local = lkm.load(ckpt, device="cpu", min_confidence=0.5)
    from labelkit.media.image import read_image

    for path, dets in zip(ds.values("filepath"), ds.values("predictions"), strict=True):
        want = local.predict([read_image(path)])[0]
        assert [(d.label, d.mask.tobytes()) for d in dets.detections] == \
            [(d.label, d.mask.tobytes()) for d in want.detections]
    assert sum(len(d.detections) for d in ds.values("predictions")) > 0


def test_ray_only_option_with_the_local_engine_is_one_clear_line_before_anything(tmp_path, dataset_name, capsys):
    import fiftyone as fo

    from labelkit.cli.main import main

    folder = _tiny_images(tmp_path / "imgs", n=1)
    rc = main(["propose", str(folder), "--dataset", dataset_name, "--address", "ray://head:10001"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("labelkit: error: address only apply to engine='ray' (got engine='local')")
    assert not fo.dataset_exists(dataset_name)  # refused before the import



@pytest.mark.parametrize("argv, message", [
    (["--engine", "spark"], "invalid choice: 'spark'"),
    (["--num-workers", "0"], "0 must be >= 1"),
    (["--batch-size", "big"], "'big' is not a number of images or 'auto'"),
    (["--num-gpus-per-worker", "lots"], "invalid float value: 'lots'"),
], ids=["unknown-engine", "zero-workers", "bad-batch-size", "bad-gpus"])
def test_bad_propose_engine_options_are_refused_by_the_parser(argv, message, capsys):
    from labelkit.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["propose", "somewhere", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_batch_size_auto_is_passed_on():
    from labelkit.cli.main import build_parser

    args = build_parser().parse_args(["propose", "x", "--batch-size", "auto", "--engine", "ray", "--num-workers", "3",
                                      "--num-gpus-per-worker", "0.5", "--address", "auto"])
    assert (args.batch_size, args.engine, args.num_workers, args.num_gpus_per_worker, args.address) == \
        ("auto", "ray", 3, 0.5, "auto")
