"""Pre-labeling: run a proposer over a FiftyOne collection and write its proposals.

* :mod:`._engine` - the batch loop both paths share (:func:`run_batch`);
* :mod:`.image` - :func:`propose` over image samples (the ``lk.propose`` entry point;
  video collections are handed to :mod:`.video`);
* :mod:`.video` - :func:`propose_video`, frame by frame.
* :mod:`.ray_engine` - ``propose(..., engine="ray")``: decoding in Ray tasks, inference
  in an actor pool of model replicas, writes from the driver (Ray is imported only then).

May import: :mod:`labelkit.errors`, ``_summary``, :mod:`labelkit.geometry`,
:mod:`labelkit.media`, :mod:`labelkit.store`, :mod:`labelkit.io`, :mod:`labelkit.models`.
"""

from __future__ import annotations

from ._engine import (
    ERROR_FIELD,
    run_batch,
)
from .image import (
    ProposeSummary,
    propose,
)
from .video import (
    VideoProposeSummary,
    propose_video,
)

__all__ = [
    "ERROR_FIELD",
    "ProposeSummary",
    "VideoProposeSummary",
    "propose",
    "propose_video",
    "run_batch",
]
