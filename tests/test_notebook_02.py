"""notebooks/02_should_i_automate.ipynb executes top-to-bottom, headless (nbclient, cwd
notebooks/), in its smoke setting ``LABELKIT_NB_FAST=1`` (16 images per split, 4 training
steps), and shows the audits, the fine-tuning history and the before/after table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_should_i_automate.ipynb"

pytestmark = pytest.mark.slow


def _sample_data() -> Path:
    return Path(os.environ.get("LABELKIT_SAMPLE_DATA") or ROOT / "sample_data")


@pytest.mark.skipif(
    not (_sample_data() / "models" / "sample_maskrcnn.pt").is_file(),
    reason="the bundled sample model is not built yet",
)
def test_notebook_02_runs_headless_and_compares_before_after(fo, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LABELKIT_NB_FAST", "1")
    monkeypatch.setenv("LABELKIT_SAMPLE_DATA", str(_sample_data()))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()
    finally:
        for name in ["nb02-labelled"] + [f"nb02-{s}" for s in
                                         ("known-val", "shifted-background", "shifted-newclass")]:
            if fo.dataset_exists(name):
                fo.delete_dataset(name)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert [o for o in outputs if o.get("output_type") == "error"] == []
    text = "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") + o.get("data", {}).get("text/html", "")
        for o in outputs
    )
    assert "FAST smoke settings" in text  # the notebook says openly that it ran the smoke setting
    assert "labelled (fine-tune) images: 12" in text
    assert "fine-tuned" in text and "sample model" in text and "mask AP50" in text
    assert "donut" in text
    assert text.count("recommendation") >= 3  # the audit reports were displayed
