"""Notebooks execute top-to-bottom, headless, with nbclient (cwd notebooks/, the venv's kernel)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

pytestmark = pytest.mark.slow


def _sample_model_present() -> bool:
    base = Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")
    return (base / "models" / "sample_maskrcnn.pt").is_file()


def run_notebook(path: Path, timeout: int = 600):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def _outputs(nb, mime: str | None = None):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if mime is None or mime in out.get("data", {}):
                yield cell, out


@pytest.mark.skipif(not _sample_model_present(), reason="the bundled sample model is not built yet")
def test_quickstart_runs_headless_and_writes_reviewed_labels(fo, tmp_path, monkeypatch):
    name = f"lk-quickstart-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LABELKIT_QUICKSTART_DATASET", name)
    monkeypatch.setenv("LABELKIT_QUICKSTART_LIMIT", "3")
    monkeypatch.setenv("LABELKIT_NO_APP", "1")
    monkeypatch.setenv("LABELKIT_EXPORT_DIR", str(tmp_path / "exports"))
    try:
        nb = run_notebook(NOTEBOOKS / "01_quickstart.ipynb")
        errors = [o for _, o in _outputs(nb) if o.get("output_type") == "error"]
        assert errors == []
        widgets = list(_outputs(nb, "application/vnd.jupyter.widget-view+json"))
        assert widgets, "the Labeler cell displays a widget"
        text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for _, o in _outputs(nb))
        assert f"dataset: {name}" in text
        assert re.search(r"loaded in \d+\.\d s", text), "the model cell says how long loading took"
        assert "propose -> predictions" in text, "the propose cell shows its progress bar"
        assert "oldest supported major version" not in text
        ds = fo.load_dataset(name)
        ds.reload()
        assert len(ds) == 3
        assert ds.count_values("review_status").get("done") == 1
        done = ds.match(fo.ViewField("review_status") == "done").first()
        assert all(d.source == "proposal" and d.proposal_iou == 1.0 for d in done.ground_truth.detections)
        assert (tmp_path / "exports" / "quickstart-coco" / "labels.json").is_file()
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
