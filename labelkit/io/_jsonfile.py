"""Reading JSON files to import, with errors that point at the broken spot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError


def read_json(path: str | os.PathLike, what: str = "annotation file") -> Any:
    """Parse a JSON file; every failure is an :class:`~labelkit.errors.ImportFormatError`
    naming the file (and, for syntax errors, the line, column and the text there).

    Args:
        path: the file (must exist; callers check that first for their own message).
        what: how to call the file in errors.

    Returns:
        the parsed value (``NaN`` / ``Infinity`` literals are accepted here and left
        to the caller's checks, which name the entry holding them).

    Raises:
        ImportFormatError: empty, not UTF-8, or not valid JSON.
    """
    p = Path(path)
    raw = p.read_bytes()
    if not raw.strip():
        raise ImportFormatError(f"{what} '{p}' is empty ({len(raw)} bytes); write the JSON into it or pick another file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportFormatError(
            f"{what} '{p}' is not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8 JSON"
        ) from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        line = text.splitlines()[e.lineno - 1] if e.lineno - 1 < len(text.splitlines()) else ""
        lo = max(e.colno - 30, 0)
        near = line[lo : e.colno + 30].strip()
        raise ImportFormatError(
            f"{what} '{p}' is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
            + (f" (near {near!r})" if near else "")
            + "; fix the file there (a trailing comma, a missing quote or a truncated download "
            "are the usual causes)"
        ) from e
