"""The quickstart's first run: a per-user dataset name and plain error messages.

Executes the real notebook headless (nbclient) with a sample-data folder that has
no images: the run stops at the load cell with labelkit's one-line message and
its fix, not a traceback, and nothing is written to the database.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from test_notebooks import NOTEBOOKS, _outputs

pytestmark = pytest.mark.slow


def test_quickstart_shows_a_plain_message_and_uses_a_per_user_dataset(fo, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.delenv("LABELKIT_QUICKSTART_DATASET", raising=False)
    monkeypatch.setenv("LABELKIT_SAMPLE_DATA", str(tmp_path / "no-sample-data"))
    monkeypatch.setenv("LABELKIT_NO_APP", "1")
    before = set(fo.list_datasets())
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    text = "".join(o.get("text", "") for _, o in _outputs(nb))
    assert f"dataset: quickstart-{getpass.getuser()}" in text
    errors = [o for _, o in _outputs(nb) if o.get("output_type") == "error"]
    assert len(errors) == 1
    shown = "\n".join(errors[0]["traceback"])
    assert errors[0]["ename"] == "LabelkitError"
    assert shown.startswith("LabelkitError: no sample images in ")
    assert "set LABELKIT_SAMPLE_DATA" in shown
    assert "Traceback" not in shown and "File " not in shown
    assert str(Path(tmp_path)) in shown
    assert set(fo.list_datasets()) == before
