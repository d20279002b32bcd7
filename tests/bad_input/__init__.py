"""The bad-input corpus: one :class:`Case` per mistake a user (or a proposer) can make.

``tests/test_bad_input.py`` runs every case of every ``cases_*.py`` module here:
the call must raise the case's ``labelkit.errors`` type, its message must name
the bad thing, and the database must be byte-for-byte unchanged (see
:func:`dump`). The README's "Errors" table lists the same cases.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Context:
    """What a case gets: a small reviewed dataset and a scratch folder.

    Attributes:
        ds: ``fo.Dataset`` of 3 images (320x240 JPEGs in ``images``), each with
            proposals in ``predictions`` (classes ``ball``, ``mug``); sample 0 is
            reviewed (``review_status="done"``, one accepted label in ``ground_truth``).
        tmp: a scratch folder for the case (files it writes go here).
        images: the image paths, in sample order.
    """

    ds: Any
    tmp: Path
    images: list[Path]
    extra: dict = field(default_factory=dict)


@dataclass
class Case:
    """One bad input.

    Attributes:
        id: short test id (``"proposer-nan-box"``).
        what: one line for the README table: the mistake as a user makes it.
        run: does the bad thing given a :class:`Context` (must raise).
        error: the ``labelkit.errors`` class expected.
        names: substrings the message must contain (the bad value, file, field...).
    """

    id: str
    what: str
    run: Callable[[Context], Any]
    error: type[Exception]
    names: tuple[str, ...] = ()


def all_cases() -> list[Case]:
    """Every case of every ``cases_*`` module of this package, in module order."""
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            cases.extend(module.CASES)
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate case ids: {dupes}"
    return cases


_VOLATILE = {"last_loaded_at", "last_modified_at"}


def _strip(doc):
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in _VOLATILE}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def dump() -> bytes:
    """Every document of every collection of the FiftyOne database, BSON-encoded in a
    stable order (timestamps FiftyOne bumps on mere reads left out): equal dumps mean
    the database is byte-for-byte unchanged, including dataset and run documents."""
    import bson
    import fiftyone.core.odm as foo

    db = foo.get_db_conn()
    out = []
    for name in sorted(db.list_collection_names()):
        if name.startswith("system."):
            continue
        docs = [_strip(d) for d in db[name].find({}, sort=[("_id", 1)])]
        out.append(bson.encode({"collection": name, "docs": docs}))
    return b"".join(out)
