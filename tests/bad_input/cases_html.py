"""Bad-input corpus rows for HTML in names (issue #10): none.

A file, class, dataset or annotator name that contains HTML is not a mistake
labelkit refuses: it is accepted, stored as given, and shown as text wherever
labelkit builds HTML (escaped with :func:`labelkit._summary.escape`). There is no
call that raises, so nothing fits the corpus contract; the behaviour is tested in
``tests/test_html_escaping.py`` and, in a real browser, in
``tests/browser/test_html_names_browser.py``.
"""

from __future__ import annotations

CASES: list = []
