"""Fine-tuning: retrain a Mask R-CNN proposer on reviewed (or ground-truth) labels (:mod:`.train`).

May import: :mod:`labelkit.errors`, :mod:`labelkit.geometry`, :mod:`labelkit.media`,
:mod:`labelkit.store`, :mod:`labelkit.io`, :mod:`labelkit.models`.
"""

from __future__ import annotations

from .train import (
    finetune,
    grow_heads,
)

__all__ = [
    "finetune",
    "grow_heads",
]
