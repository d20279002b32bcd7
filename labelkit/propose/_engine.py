"""The batch loop both pre-labeling paths share: check the model, read images, run a batch.

:func:`run_batch` runs one batch of images through a proposer (under
``torch.inference_mode``), checks its output against the proposer contract
(:mod:`labelkit.models.validate`, the same rules for every kind of proposer) and
drops detections under the confidence threshold; the image path
(:mod:`labelkit.propose.image`) and the video frame path
(:mod:`labelkit.propose.video`) both call it. A batch that breaks the contract
raises :class:`~labelkit.errors.ProposalError` before anything of it is returned,
so nothing of it is written.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from .._summary import LinesSummary
from ..errors import ImageReadError, ModelError

#: The sample field where the reason of a failed image is stored (None once it succeeds).
ERROR_FIELD = "propose_error"


_PHASES = ("decode", "model", "postprocess", "write", "other")


def _describe(model) -> str:
    name = type(model).__name__
    arch = getattr(model, "arch", None) or getattr(model, "name", None)
    device = getattr(model, "device", None)
    parts = [p for p in (arch, device) if p]
    return f"{name}[{', '.join(parts)}]" if parts else name


def _check_model(model) -> None:
    if not callable(getattr(model, "predict", None)) or not hasattr(model, "classes"):
        raise ModelError(
            f"propose() needs a proposer (an object with .classes and .predict(images)), got "
            f"{type(model).__name__}; see lk.models.maskrcnn / sample / from_callable"
        )


def _read(path: str):
    from ..media.image import read_image

    t0 = time.perf_counter()
    try:
        img, reason = read_image(path), None
    except ImageReadError as exc:
        img, reason = None, exc.reason
    except Exception as exc:  # noqa: BLE001 - any decoder failure is that image's problem
        img, reason = None, f"cannot be read ({type(exc).__name__}: {exc})"
    return img, reason, time.perf_counter() - t0


def _inference_mode():
    import contextlib

    if "torch" in sys.modules:
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def run_batch(model, images: list, min_confidence: float, timings: dict[str, float]) -> list:
    """Run a proposer on one batch of images; shared by image and video proposing.

    Proposers with the split API (``predict_raw`` + ``postprocess``) are timed as
    "model" and "postprocess" separately (``synchronize()`` waits for the GPU);
    other proposers' ``predict`` counts as "model", the checks and the confidence
    filter as "postprocess". Every returned detection gets ``review = None``.

    Args:
        model: the proposer.
        images: ``HxWx3`` uint8 arrays.
        min_confidence: drop detections below this score.
        timings: accumulates ``"model"`` and ``"postprocess"`` seconds.

    Returns:
        one ``fo.Detections`` per image.

    Raises:
        ProposalError: the batch's output breaks the proposer contract (see
            :mod:`labelkit.models.validate`); boxes partly outside an image are
            clipped instead, with a ``ProposalWarning``.
    """
    t0 = time.perf_counter()
    if callable(getattr(model, "predict_raw", None)) and callable(getattr(model, "postprocess", None)):
        with model.inference_context():
            raw = model.predict_raw(images, min_confidence)
            sync = getattr(model, "synchronize", None)
            if sync is not None:
                sync()
        t1 = time.perf_counter()
        results = model.postprocess(raw, [im.shape[:2] for im in images], min_confidence)
    else:
        with _inference_mode():
            results = model.predict(images)
        t1 = time.perf_counter()
        results = _filter(results, [im.shape[:2] for im in images], min_confidence, model)
    for dets in results:
        for d in dets.detections:
            d["review"] = None
    timings["model"] += t1 - t0
    timings["postprocess"] += time.perf_counter() - t1
    return results


def _filter(results, image_sizes: list[tuple[int, int]], min_confidence: float, model) -> list:
    """Check a plain proposer's output (its type and count, then every detection with
    :func:`labelkit.models.validate.check_results`) and drop detections below
    ``min_confidence``."""
    import fiftyone as fo

    from ..models.validate import check_results

    n = len(image_sizes)
    results = list(results) if results is not None else []
    if len(results) != n:
        raise ModelError(f"{type(model).__name__}.predict returned {len(results)} results for {n} images")
    for r in results:
        if not isinstance(r, fo.Detections):
            raise ModelError(
                f"{type(model).__name__}.predict must return fo.Detections per image, got {type(r).__name__}"
            )
    out = []
    for r in check_results(results, image_sizes, model, warn_stacklevel=4):
        dets = [d for d in r.detections if d.confidence is None or d.confidence >= min_confidence]
        out.append(fo.Detections(detections=dets))
    return out


@dataclass(repr=False)
class RunSummary(LinesSummary):
    """The fields both pre-labeling summaries share (see :class:`~labelkit.propose.image.ProposeSummary`
    and :class:`~labelkit.propose.video.VideoProposeSummary`, which document them)."""

    field: str
    model: str = ""
    proposals: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    skipped_reviewed: int = 0
    skipped_existing: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_PHASES, 0.0))
    batch_size: int = 0

    @property
    def skipped(self) -> int:
        """Samples (frames) not processed because they were reviewed or already had proposals."""
        return self.skipped_reviewed + self.skipped_existing


def detail_lines(per_class: dict[str, int], timings: dict[str, float], seconds: float,
                 failed: dict[str, str]) -> list[str]:
    """The lines both run summaries end with: proposals per class, the time split, failures."""
    lines = []
    if per_class:
        top = sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("  per class: " + ", ".join(f"{k} {v}" for k, v in top))
    if seconds > 0:
        split = ", ".join(f"{k} {v:.2f} s ({100 * v / seconds:.0f}%)" for k, v in timings.items())
        lines.append(f"  time: {split}")
    lines += [f"  failed '{path}': {reason}" for path, reason in failed.items()]
    return lines
