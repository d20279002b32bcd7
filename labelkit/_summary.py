"""Shared display of run summaries (propose, video propose, interpolate)."""

from __future__ import annotations

import html


class LinesSummary:
    """Mixin: a summary that renders from ``_lines()`` (first line = headline).

    Subclasses that are dataclasses must use ``@dataclass(repr=False)`` so the
    dataclass does not replace ``__repr__``.
    """

    def _lines(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        lines = self._lines()
        rest = "".join(f"<li>{html.escape(line.strip())}</li>" for line in lines[1:])
        return f"<div><b>{html.escape(lines[0])}</b><ul>{rest}</ul></div>"
