"""Shared display of run summaries (propose, video propose, interpolate), and the
one HTML-escaping helper every HTML-building part of labelkit uses.

Every string that reaches HTML from outside labelkit's own source -- file names
and paths, dataset, field and class names, attribute values, annotator names,
error messages, model descriptions -- goes through :func:`escape` (element text
and quoted attribute values alike) or :func:`safe_url` (``href``/``src``), so an
image named ``<img src=x onerror=alert(1)>.jpg`` shows as that text and never
becomes markup.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

_URL_SCHEMES = ("http", "https")


def escape(value: object) -> str:
    """``value`` as HTML text: ``str(value)`` with ``& < > " '`` escaped.

    Safe as element content and inside a quoted attribute value
    (``html.escape(..., quote=True)``).

    Example:
        >>> escape('<img src=x onerror="alert(1)">')
        '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def safe_url(url: object) -> str:
    """``url`` escaped for an ``href``/``src`` attribute, or ``""`` unless it is a
    plain ``http(s)`` URL (so no ``javascript:`` or ``data:`` link can slip in).

    Example:
        >>> safe_url("http://localhost:5151/?id=1&x=2")
        'http://localhost:5151/?id=1&amp;x=2'
        >>> safe_url("javascript:alert(1)")
        ''
    """
    text = str(url or "").strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return ""
    return escape(text) if scheme in _URL_SCHEMES else ""


class LinesSummary:
    """Mixin: a summary that renders from ``_lines()`` (first line = headline).

    Subclasses that are dataclasses must use ``@dataclass(repr=False)`` so the
    dataclass does not replace ``__repr__``. The HTML form escapes every line
    (field, class and file names in them are user-controlled).
    """

    def _lines(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        lines = self._lines()
        rest = "".join(f"<li>{escape(line.strip())}</li>" for line in lines[1:])
        return f"<div><b>{escape(lines[0])}</b><ul>{rest}</ul></div>"
