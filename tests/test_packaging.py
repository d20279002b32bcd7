"""The install story: pyproject and environment.yml agree; CI and README use the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[ ;<>=!~\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_reqs = {_name(r): r.replace(" ", "") for r in pip_block if not r.startswith("-e")}
    py_reqs = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    assert env_reqs == py_reqs
    assert any(str(d).startswith("python") for d in env["dependencies"] if isinstance(d, str))


def test_core_packages_are_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for core in ("jupyterlab", "ipywidgets", "ipycanvas", "torch", "torchvision", "fiftyone", "pycocotools"):
        assert core in names


def test_ci_runs_make_test_and_readme_starts_with_the_two_commands():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make demo" in head and "make test" in head


def test_readme_documents_the_schema_fields():
    readme = (ROOT / "README.md").read_text()
    for field in ("review_status", "reviewed_by", "reviewed_at", "proposal_id", "proposal_iou", "edits",
                  "source", "review", "FIFTYONE_DATABASE_URI"):
        assert f"`{field}`" in readme or field in readme, field


def test_public_functions_survive_importing_their_modules():
    import importlib

    import labelkit as lk

    for name in ("audit", "propose", "finetune", "interpolate", "load_images", "Labeler"):
        module = {"load_images": "io", "Labeler": "widgets", "interpolate": "video"}.get(name, name)
        importlib.import_module(f"labelkit.{module}")
        assert callable(getattr(lk, name)) and not isinstance(getattr(lk, name), type(lk)), name


def test_import_labelkit_stays_light():
    import subprocess
    import sys

    code = "import sys, labelkit; print(sorted(m for m in ('torch', 'fiftyone', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_code_is_ruff_clean():
    import subprocess
    import sys
    from pathlib import Path

    ruff = Path(sys.executable).parent / "ruff"
    r = subprocess.run([str(ruff), "check", "labelkit", "labelkit_jupyter", "tests", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]
