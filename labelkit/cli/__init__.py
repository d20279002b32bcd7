"""The ``labelkit`` command line: ``doctor``, ``demo``, ``import``, ``propose``, ``audit``, ``export``, ``app``.

:mod:`.main` parses arguments and dispatches; :mod:`.doctor`, :mod:`.demo`,
:mod:`.propose` and :mod:`.audit` hold the commands that are more than a call.
Top of the tree: may import any labelkit package.
"""

from __future__ import annotations

from .main import main

__all__ = [
    "main",
]
