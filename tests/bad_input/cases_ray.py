"""Bad-input corpus rows for pre-labeling engines (issue #13: ``engine="ray"``).

Every option is checked before Ray is started and before anything is read or
written, so none of these cases starts Ray.
"""

from __future__ import annotations

import threading

from labelkit.errors import EngineError, ModelError

from . import Case, Context


def _propose(ctx: Context, model=None, **kw) -> None:
    import labelkit as lk

    if model is None:
        model = lk.models.from_callable(
            lambda ims: [{"boxes": [[40, 60, 120, 140]], "labels": [0], "scores": [0.9]} for _ in ims],
            classes=["ball", "mug"],
        )
    lk.propose(ctx.ds, model, field="predictions", overwrite=True, progress=False, **kw)


class _LockedProposer:
    """A proposer holding a lock: it cannot be pickled for Ray workers."""

    classes = ["ball", "mug"]

    def __init__(self):
        self.lock = threading.Lock()

    def predict(self, images):
        return []


CASES = [
    Case("engine-unknown", "`lk.propose(ds, model, engine=\"spark\")`: an engine labelkit does not know",
         lambda ctx: _propose(ctx, engine="spark"), EngineError, ("engine='spark'", "'local'", "'ray'")),
    Case("engine-ray-zero-workers", "`engine=\"ray\", num_workers=0`: no model replica to run on",
         lambda ctx: _propose(ctx, engine="ray", num_workers=0), EngineError, ("num_workers=0",)),
    Case("engine-ray-negative-gpus", "`engine=\"ray\", num_gpus_per_worker=-1`",
         lambda ctx: _propose(ctx, engine="ray", num_gpus_per_worker=-1), EngineError,
         ("num_gpus_per_worker=-1",)),
    Case("engine-local-ray-option", "`address=\"ray://...\"` without `engine=\"ray\"` (it would be ignored)",
         lambda ctx: _propose(ctx, address="ray://head:10001"), EngineError, ("address", "engine='ray'")),
    Case("engine-ray-unpicklable-proposer", "`engine=\"ray\"` with a proposer that cannot be pickled and has no spec",
         lambda ctx: _propose(ctx, _LockedProposer(), engine="ray"), ModelError,
         ("_LockedProposer", "cannot be sent to Ray workers", "('sample',)")),
    Case("engine-ray-bad-spec", "`engine=\"ray\"` with a malformed proposer spec (`(\"checkpoint\",)`: no path)",
         lambda ctx: _propose(ctx, ("checkpoint",), engine="ray"), ModelError, ("('checkpoint',)", "must look like")),
]
