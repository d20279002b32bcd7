"""Bad-input corpus rows for the first run (issue #14, part 5): ``labelkit demo``.

A wrong ``--notebook`` is refused before the demo starts a database or JupyterLab.
"""

from __future__ import annotations

from bad_input import Case, Context
from labelkit import errors


def _demo_missing_notebook(ctx: Context):
    from labelkit.cli.demo import run_demo

    return run_demo(port=1, open_browser=False, notebook=str(ctx.tmp / "no-such-notebook.ipynb"))


CASES = [
    Case(
        id="demo-missing-notebook",
        what="`labelkit demo --notebook` names a notebook that does not exist",
        run=_demo_missing_notebook,
        error=errors.LabelkitError,
        names=("no-such-notebook.ipynb", "not found"),
    ),
]
