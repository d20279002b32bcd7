"""Bad journal setups: the outage journal (labelkit.store.journal) must stay in its folder."""

from __future__ import annotations

import os

from labelkit.errors import UnsafePathError

from . import Case, Context


def _journal_symlink_out(ctx: Context):
    """A journal folder where the annotator's journal file is a symlink to elsewhere."""
    from labelkit.store.image import ReviewStore
    from labelkit.store.journal import journal_file

    folder = ctx.tmp / "journal"
    folder.mkdir()
    outside = ctx.tmp / "elsewhere.jsonl"
    journal_file(ctx.ds.name, "ana", root=folder).symlink_to(outside)
    old = os.environ.get("LABELKIT_JOURNAL_DIR")
    os.environ["LABELKIT_JOURNAL_DIR"] = str(folder)
    try:
        return ReviewStore(ctx.ds, declare=False).open_journal("ana")
    finally:
        if old is None:
            os.environ.pop("LABELKIT_JOURNAL_DIR", None)
        else:
            os.environ["LABELKIT_JOURNAL_DIR"] = old


CASES = [
    Case("journal-symlink-escape", "the annotator's outage journal file is a symlink out of LABELKIT_JOURNAL_DIR",
         _journal_symlink_out, UnsafePathError, ("elsewhere.jsonl", "outside the journal folder", "LABELKIT_JOURNAL_DIR")),
]
