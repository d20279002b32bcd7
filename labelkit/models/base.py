"""The proposer contract and the shared post-processing (raw model output ->
``fo.Detections``).

A *proposer* is any object with

* ``classes: list[str]`` - the class names it can output, and
* ``predict(images) -> list[fo.Detections]`` - one ``fo.Detections`` per image.

:class:`Proposer` is the base class of labelkit's own proposers; it splits
``predict`` into :meth:`Proposer.predict_raw` (the model; what ``propose`` times as
"model") and :meth:`Proposer.postprocess` (thresholding and cropping masks, building
FiftyOne labels; timed as "post-process"). Objects that only have ``classes`` and
``predict`` work everywhere a proposer is accepted.

Coordinates follow :mod:`labelkit.geometry.masks`: raw outputs use absolute pixel boxes
``[x1, y1, x2, y2]``; FiftyOne labels use relative ``[x, y, w, h]`` boxes with the
mask cropped to the box.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError, ProposalError
from ..geometry import masks as _masks
from . import validate as _validate

#: Class names that are never output (torchvision's COCO category list uses them
#: as placeholders).
PLACEHOLDER_CLASSES = ("__background__", "background", "N/A", "__ignore__")


def _fo():
    import fiftyone as fo

    return fo


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a CUDA GPU is usable, else ``"cpu"``.

    Any other value (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is checked and
    returned as given.

    Raises:
        ModelError: ``cuda`` was asked for but torch sees no CUDA device.
    """
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(
            f"device {device!r} was asked for, but torch {torch.__version__} sees no CUDA GPU; "
            "use device='cpu' (or 'auto')"
        )
    try:
        torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"unknown torch device {device!r} ({exc}); use 'auto', 'cpu' or 'cuda'") from None
    return device


def _to_numpy(x) -> np.ndarray:
    if x is None:
        return None
    if hasattr(x, "detach"):  # torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _is_tensor(x) -> bool:
    return hasattr(x, "detach") and hasattr(x, "device")


class Proposer:
    """Base class of labelkit proposers: a model that proposes instance masks.

    Subclasses implement :meth:`predict_raw`; :meth:`predict` and
    :meth:`postprocess` are shared.

    **Input** (``predict(images)``): a list of ``B`` images, each an
    ``np.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, RGB, values 0-255 (what
    :func:`labelkit.media.image.read_image` returns). Images of one batch may differ in
    size.

    **Output**: a list of ``B`` ``fo.Detections``, in the order of ``images``. Each
    ``fo.Detection`` has:

    * ``label`` (``str``): one of :attr:`classes`.
    * ``confidence`` (``float`` in ``[0, 1]``): the model's score; at least
      :attr:`min_confidence` (and at least ``min_confidence`` passed to ``predict``).
    * ``bounding_box`` (``list[float]`` of 4, ``[x, y, w, h]``): relative to the
      image size, in ``[0, 1]``; for mask models it is the tight box of the mask,
      on whole pixels, so ``labelkit.geometry.masks.pixel_box(box, W, H)`` gives back the
      pixel box ``(x0, y0, x1, y1)`` exactly.
    * ``mask`` (``np.ndarray`` of ``bool``, shape ``(y1 - y0, x1 - x0)``): the
      instance mask cropped to its box (the model's per-pixel probability
      ``> mask_threshold``); ``None`` for box-only detectors. Instances whose mask
      is empty after thresholding are dropped.

    Detections are sorted by decreasing confidence. An image with nothing found
    gives an empty ``fo.Detections``.

    **Checks**: every result, raw or ``fo.Detections``, is checked against this
    contract by :mod:`labelkit.models.validate` before it is returned: non-finite
    boxes, scores outside ``[0, 1]``, empty/inverted boxes or boxes wholly outside
    the image, labels outside :attr:`classes` (unless :attr:`allow_new_classes`)
    and masks that do not fit their box raise
    :class:`~labelkit.errors.ProposalError` for the whole batch; boxes partly
    outside the image are clipped to it with a
    :class:`~labelkit.models.validate.ProposalWarning`.

    Attributes:
        classes: class names the proposer can output (no background).
        min_confidence: detections scoring below are dropped.
        mask_threshold: probability above which a mask pixel is "on".
        device: torch device string (``"cpu"`` for non-torch proposers).
        batch_size: the batch size :func:`labelkit.propose` uses by default.
        allow_new_classes: accept string labels that are not in :attr:`classes`
            (default False: they raise ``ProposalError``).

    Example:
        >>> import numpy as np
        >>> import labelkit.models as lkm
        >>> def find_bright(images):
        ...     out = []
        ...     for im in images:
        ...         m = im.mean(axis=2) > 128
        ...         out.append({"boxes": [[0, 0, im.shape[1], im.shape[0]]], "labels": ["bright"],
        ...                     "scores": [0.9], "masks": m[None]})
        ...     return out
        >>> model = lkm.from_callable(find_bright, classes=["bright"])
        >>> image = np.zeros((40, 60, 3), np.uint8); image[10:20, 5:25] = 255
        >>> det = model.predict([image])[0].detections[0]
        >>> det.label, det.confidence, det.mask.shape
        ('bright', 0.9, (10, 20))
        >>> from labelkit.geometry.masks import pixel_box
        >>> pixel_box(det.bounding_box, 60, 40)  # (x0, y0, x1, y1) pixels
        (5, 10, 25, 20)
    """

    classes: list[str]
    min_confidence: float = 0.0
    mask_threshold: float = 0.5
    device: str = "cpu"
    batch_size: int = 4
    allow_new_classes: bool = False

    # ---------------------------------------------------------------- contract
    def predict_raw(self, images: Sequence[np.ndarray], min_confidence: float | None = None) -> list:
        """Run the model on a batch; return one raw result per image (see
        :meth:`postprocess` for the raw formats understood)."""
        raise NotImplementedError

    def predict(self, images: Sequence[np.ndarray], min_confidence: float | None = None) -> list:
        """Propose instances for a batch of images.

        Args:
            images: ``B`` arrays ``(H, W, 3)`` uint8 RGB.
            min_confidence: drop detections below this (on top of
                :attr:`min_confidence`).

        Returns:
            ``B`` ``fo.Detections`` (see the class docstring for every field).
        """
        images = _check_images(images)
        with self.inference_context():
            raw = self.predict_raw(images, min_confidence)
        return self.postprocess(raw, [im.shape[:2] for im in images], min_confidence)

    def inference_context(self):
        """The context :meth:`predict_raw` runs in (``torch.inference_mode`` for torch models)."""
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for queued device work (CUDA) so timings are honest. No-op on CPU."""

    def spec(self) -> tuple | None:
        """How to rebuild this proposer in another process, e.g. on a Ray worker
        (see :mod:`labelkit.models.spec`); None (the default): it is sent pickled."""
        return None

    # ------------------------------------------------------------ post-process
    def _label_name(self, label) -> str | None:
        """Map a raw label (class index or name) to a class name, or None to drop it."""
        if isinstance(label, str):
            return label
        i = int(label)
        return self.classes[i] if 0 <= i < len(self.classes) else None

    def postprocess(
        self,
        raw: Sequence,
        image_sizes: Sequence[tuple[int, int]],
        min_confidence: float | None = None,
    ) -> list:
        """Turn raw model outputs into ``fo.Detections`` (one per image).

        Each raw result is either a ``fo.Detections`` (checked by
        :func:`labelkit.models.validate.check_detections`, then filtered by
        confidence) or a dict with

        * ``boxes``: ``(N, 4)`` float, absolute ``[x1, y1, x2, y2]`` pixels;
        * ``labels``: ``(N,)`` int (mapped by :meth:`_label_name`) or ``str``;
        * ``scores``: ``(N,)`` float in ``[0, 1]`` (optional: confidence None);
        * ``masks`` (optional): ``(N, H, W)`` or ``(N, 1, H, W)`` full-image masks,
          bool or float probabilities (thresholded at :attr:`mask_threshold`).

        Arrays may be numpy arrays, lists or torch tensors (on any device). On a
        GPU the batch's boxes, labels and scores come to the host in one transfer;
        masks are thresholded and cropped on the device and the crops of the whole
        batch come in one more (two device-to-host copies per batch, whatever the
        number of images and detections). CPU tensors and arrays take the host path.

        Args:
            raw: ``B`` raw results.
            image_sizes: ``B`` ``(H, W)`` sizes of the images.
            min_confidence: extra confidence floor.

        Raises:
            ProposalError: a result breaks the contract (see the class docstring);
                raised for the whole batch, before anything is returned.
        """
        fo = _fo()
        floor = max(self.min_confidence or 0.0, min_confidence or 0.0)
        if len(raw) != len(image_sizes):
            raise ModelError(
                f"{type(self).__name__} returned {len(raw)} results for {len(image_sizes)} images"
            )
        name = _validate.describe(self)
        classes = list(self.classes)
        allow_new = _validate.allows_new_classes(self)
        notes: list[str] = []
        out: list = []
        plans: dict[int, tuple] = {}  # image index -> (kept, masks, h, w) of a dict result
        raw = _small_fields_to_host(raw)  # on a GPU: one copy for the batch's boxes/labels/scores
        for i, (r, (h, w)) in enumerate(zip(raw, image_sizes, strict=True)):
            where = _validate.Where(name, i, int(h), int(w), notes)
            if isinstance(r, fo.Detections):
                checked = _validate.check_detections(r, where, classes, allow_new)
                dets = [d for d in checked if d.confidence is None or d.confidence >= floor]
                out.append(fo.Detections(detections=dets))
            elif isinstance(r, Mapping):
                kept, masks = _plan_detections(
                    r, int(h), int(w), self._label_name, floor,
                    classes=classes, allow_new_classes=allow_new, where=where,
                )
                plans[i] = (kept, masks, int(h), int(w))
                out.append(None)
            else:
                raise ModelError(
                    f"{type(self).__name__}: a result must be a dict with boxes/labels/scores[/masks] "
                    f"or a fo.Detections, got {type(r).__name__}"
                )
        # masks on a GPU: thresholded there, every region of the batch copied in one transfer
        regions = _batch_mask_regions([(k, m) for k, m, _h, _w in plans.values()], self.mask_threshold)
        for (i, (kept, _m, h, w)), reg in zip(plans.items(), regions, strict=True):
            out[i] = fo.Detections(detections=_build_detections(kept, reg, h, w))
        _validate.warn(notes, name)
        return out

    def __repr__(self) -> str:
        n = len(self.classes)
        shown = ", ".join(self.classes[:6]) + (", ..." if n > 6 else "")
        return (
            f"{type(self).__name__}({n} classes: [{shown}], device={self.device!r}, "
            f"min_confidence={self.min_confidence}, mask_threshold={self.mask_threshold})"
        )


def _check_images(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ModelError("predict() takes a list of images; wrap a single image: predict([image])")
    images = list(images)
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            desc = (
                f"shape {im.shape}, dtype {im.dtype}" if isinstance(im, np.ndarray) else type(im).__name__
            )
            raise ModelError(
                f"image {i} must be an (H, W, 3) uint8 RGB array (labelkit.media.image.read_image "
                f"returns one), got {desc}"
            )
    return images


def raw_to_detections(
    raw: Mapping[str, Any],
    height: int,
    width: int,
    label_name,
    min_confidence: float = 0.0,
    mask_threshold: float = 0.5,
    *,
    classes: Sequence[str] | None = None,
    allow_new_classes: bool = False,
    where: _validate.Where | None = None,
) -> list:
    """One image's raw detections (dict of boxes/labels/scores/masks) -> ``fo.Detection`` list.

    Every entry is checked first (:func:`labelkit.models.validate.check_raw`),
    whatever its score: non-finite, empty/inverted or wholly-outside boxes, scores
    outside ``[0, 1]``, string labels outside ``classes`` and int labels
    ``label_name`` refuses raise :class:`~labelkit.errors.ProposalError`; boxes
    reaching half a pixel or more beyond the image are clipped to it and listed
    in a :class:`~labelkit.models.validate.ProposalWarning`.

    Masks: thresholded, then cropped to the tight box of the ``on`` pixels inside
    the detector's box (grown by 10% + 2 px, since pasted Mask R-CNN masks may
    bleed slightly beyond their box); the detection's box is that tight box.
    Instances with an empty mask are dropped. Without masks, the detector's box
    (clipped to the image) is used and ``mask`` is None.

    Args:
        raw: see :meth:`Proposer.postprocess`.
        height, width: the image size.
        label_name: raw label -> class name, or None to drop the detection.
        min_confidence: drop detections scoring below.
        mask_threshold: mask probability threshold (bool masks are used as-is).
        classes: the class names string labels must be in (None: not checked).
        allow_new_classes: accept string labels outside ``classes``.
        where: the proposer and image, for messages; the warning about clipped
            boxes is left to the caller when given (one per batch), else emitted here.

    Returns:
        ``fo.Detection`` objects sorted by decreasing confidence.

    Raises:
        ProposalError: see above.
    """
    own_where = where is None
    if own_where:
        where = _validate.Where("proposer", 0, int(height), int(width))
    kept, masks = _plan_detections(
        raw, height, width, label_name, min_confidence,
        classes=classes, allow_new_classes=allow_new_classes, where=where,
    )
    regions = _mask_regions(masks, kept, mask_threshold) if masks is not None else None
    out = _build_detections(kept, regions, height, width)
    if own_where:
        _validate.warn(where.notes, where.model)
    return out


def _plan_detections(
    raw: Mapping[str, Any],
    height: int,
    width: int,
    label_name,
    min_confidence: float,
    *,
    classes: Sequence[str] | None,
    allow_new_classes: bool,
    where: _validate.Where,
) -> tuple[list, Any]:
    """The checks and choices of :func:`raw_to_detections` before any mask pixel is
    read: ``(kept, masks)``, ``kept`` a list of ``(index, name, confidence, box)``
    in decreasing confidence (``box`` the mask search region ``(x0, y0, x1, y1)``
    in whole pixels, or the clipped float box without masks) and ``masks`` the
    ``(N, H, W)`` masks (None without masks), still where the model left them."""
    if "boxes" not in raw or "labels" not in raw:
        raise ModelError(f"a raw result needs 'boxes' and 'labels', got keys {sorted(raw)}")
    boxes = np.asarray(_to_numpy(raw["boxes"]), dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    labels = raw["labels"]
    labels = list(_to_numpy(labels).reshape(-1)) if not isinstance(labels, (list, tuple)) else list(labels)
    scores = raw.get("scores")
    scores = None if scores is None else np.asarray(_to_numpy(scores), dtype=np.float64).reshape(-1)
    masks = raw.get("masks")
    if len(labels) != n or (scores is not None and len(scores) != n):
        raise ModelError(
            f"raw result has {n} boxes, {len(labels)} labels and "
            f"{'no' if scores is None else len(scores)} scores; they must match"
        )
    _validate.check_raw(
        boxes, labels, scores, where, list(classes) if classes is not None else [],
        allow_new_classes or classes is None,
    )
    names = []
    for k, label in enumerate(labels):
        if not isinstance(label, str) and not _is_index(label):
            raise where.error(
                k, f"label {label!r} is not a class index or name",
                "return int indices into classes or str class names",
            )
        try:
            names.append(label_name(label))
        except ProposalError as exc:
            raise where.error(k, str(exc), "fix the labels or the classes list") from None
    if masks is not None:
        if not _is_tensor(masks):
            masks = np.asarray(masks)
        if masks.ndim == 4:
            masks = masks[:, 0]
        if masks.ndim != 3 or masks.shape[0] != n or tuple(masks.shape[1:]) != (height, width):
            raise ModelError(
                f"masks must be (N, H, W) = ({n}, {height}, {width}) full-image masks, "
                f"got shape {tuple(masks.shape)}"
            )
    order = np.argsort(-scores, kind="stable") if scores is not None else np.arange(n)
    kept = []  # (index, name, confidence, region or box)
    for i in order:
        conf = None if scores is None else float(scores[i])
        if conf is not None and conf < min_confidence:
            continue
        name = names[i]
        if name is None:
            continue
        x1, y1, x2, y2 = boxes[i]
        if masks is None:
            px0, py0 = max(0, math.floor(x1)), max(0, math.floor(y1))
            px1, py1 = min(width, math.ceil(x2)), min(height, math.ceil(y2))
            if px1 <= px0 or py1 <= py0:
                continue
            kept.append((i, name, conf, (max(x1, 0), max(y1, 0), min(x2, width), min(y2, height))))
        else:
            grow_x, grow_y = 0.1 * max(x2 - x1, 0) + 2, 0.1 * max(y2 - y1, 0) + 2
            rx0, ry0 = max(0, math.floor(x1 - grow_x)), max(0, math.floor(y1 - grow_y))
            rx1, ry1 = min(width, math.ceil(x2 + grow_x)), min(height, math.ceil(y2 + grow_y))
            if rx1 <= rx0 or ry1 <= ry0:
                continue
            kept.append((i, name, conf, (rx0, ry0, rx1, ry1)))
    return kept, masks


def _build_detections(kept: list, regions: list | None, height: int, width: int) -> list:
    """``fo.Detection`` objects from :func:`_plan_detections`'s ``kept`` and the
    thresholded mask ``regions`` (host bool arrays; None without masks): each mask
    cropped to its tight box; instances whose mask is empty are dropped."""
    fo = _fo()
    out = []
    for k, (_i, name, conf, box) in enumerate(kept):
        extra = {} if conf is None else {"confidence": conf}
        if regions is None:
            rel = _masks.xyxy_to_fo([box], width, height)[0]
            out.append(fo.Detection(label=name, bounding_box=[float(v) for v in rel], **extra))
            continue
        region = regions[k]
        tight = _masks.mask_bbox(region)
        if tight is None:
            continue
        rx0, ry0 = box[0], box[1]
        tx0, ty0, tx1, ty1 = tight
        crop = np.ascontiguousarray(region[ty0:ty1, tx0:tx1])
        rel = _masks.pixel_box_to_fo(rx0 + tx0, ry0 + ty0, rx0 + tx1, ry0 + ty1, width, height)
        out.append(fo.Detection(label=name, bounding_box=rel, mask=crop, **extra))
    return out


def _is_index(label) -> bool:
    if isinstance(label, (bool, np.bool_)):
        return False
    try:
        return float(label).is_integer()
    except (TypeError, ValueError):
        return False


def _small_fields_to_host(raw: Sequence, force: bool = False) -> list:
    """A batch of raw results whose ``boxes``, ``labels`` and ``scores`` are tensors on
    a device (a GPU) -> the same results with those three as host numpy arrays
    (float64 boxes and scores, int64 labels), copied in **one** device-to-host
    transfer for the whole batch instead of three per image; masks stay on the
    device (:func:`_mask_regions` copies only their regions, once per image).
    Anything else (CPU tensors, lists, ``fo.Detections``) is returned as it is,
    unless ``force`` (tests: the same path with CPU tensors)."""
    keys = ("boxes", "labels", "scores")
    idx = [
        i for i, r in enumerate(raw)
        if isinstance(r, Mapping) and all(_is_tensor(r.get(k)) for k in keys)
        and (force or all(r[k].device.type != "cpu" for k in keys))
        and not r["labels"].is_floating_point() and r["labels"].dtype != _torch_bool()
    ]
    if not idx or len({raw[i][k].device for i in idx for k in keys}) != 1:
        return list(raw)
    import torch

    parts, sizes = [], []
    for i in idx:
        for k in keys:
            t = raw[i][k].reshape(-1)
            parts.append(t.to(torch.float64))
            sizes.append(t.numel())
    flat = _to_host(torch.cat(parts))
    out, start, j = list(raw), 0, 0
    for i in idx:
        r = dict(raw[i])
        for k in keys:
            v = flat[start:start + sizes[j]]
            start, j = start + sizes[j], j + 1
            r[k] = v.reshape(-1, 4) if k == "boxes" else v.astype(np.int64) if k == "labels" else v
        out[i] = r
    return out


def _torch_bool():
    import torch

    return torch.bool


def _to_host(t) -> np.ndarray:
    """A tensor as a host numpy array: the one place the GPU path copies to the host
    (one call per copy, so tests can count them)."""
    return t.detach().cpu().numpy()


def _on_device(masks) -> bool:
    return _is_tensor(masks) and masks.device.type != "cpu"


def _batch_mask_regions(plans: Sequence[tuple[list, Any]], mask_threshold: float,
                        device_path: bool | None = None) -> list[list[np.ndarray] | None]:
    """:func:`_mask_regions` for every image of a batch: ``plans`` holds
    ``(kept, masks)`` per image (masks None: box-only). When the masks are tensors
    on one GPU (or ``device_path``: tests, with CPU tensors), they are thresholded
    there and **all** regions of the batch come to the host in one transfer;
    otherwise each image takes the host path of :func:`_mask_regions` (CPU:
    unchanged, byte for byte)."""
    with_masks = [(k, m) for k, m in plans if m is not None and k]
    if device_path is None:
        devices = {m.device for _k, m in with_masks if _on_device(m)}
        device_path = len(with_masks) > 1 and len(devices) == 1 and all(_is_tensor(m) for _k, m in with_masks)
    if not device_path or not with_masks:
        return [None if m is None else _mask_regions(m, k, mask_threshold) for k, m in plans]
    import torch

    parts = []
    for kept, masks in with_masks:
        on = masks if masks.dtype == torch.bool else masks > mask_threshold
        parts += [on[i, y0:y1, x0:x1].reshape(-1) for i, _n, _c, (x0, y0, x1, y1) in kept]
    flat = _to_host(torch.cat(parts))
    out, start = [], 0
    for kept, masks in plans:
        if masks is None:
            out.append(None)
            continue
        regions = []
        for _i, _n, _c, (x0, y0, x1, y1) in kept:
            size = (y1 - y0) * (x1 - x0)
            regions.append(flat[start:start + size].reshape(y1 - y0, x1 - x0))
            start += size
        out.append(regions)
    return out


def _mask_regions(masks, kept, mask_threshold: float, device_path: bool | None = None) -> list[np.ndarray]:
    """The thresholded mask inside each kept detection's search region, as numpy bool
    arrays. On CPU only the regions are thresholded; masks on a GPU are thresholded
    there and all regions are copied to the host in one transfer (one sync, not one
    per detection)."""
    if not kept:
        return []
    if device_path is None:
        device_path = _is_tensor(masks) and masks.device.type != "cpu"
    if _is_tensor(masks) and not device_path:
        masks = masks.detach().cpu().numpy()  # zero-copy on CPU; threshold only the regions
    if device_path:
        import torch

        on = masks if masks.dtype == torch.bool else masks > mask_threshold
        parts = [on[i, y0:y1, x0:x1].reshape(-1) for i, _n, _c, (x0, y0, x1, y1) in kept]
        flat = _to_host(torch.cat(parts))
        out, start = [], 0
        for _i, _n, _c, (x0, y0, x1, y1) in kept:
            size = (y1 - y0) * (x1 - x0)
            out.append(flat[start:start + size].reshape(y1 - y0, x1 - x0))
            start += size
        return out
    out = []
    for i, _n, _c, (x0, y0, x1, y1) in kept:
        region = masks[i, y0:y1, x0:x1]
        out.append(region if region.dtype == bool else region > mask_threshold)
    return out


class CallableProposer(Proposer):
    """A proposer around a plain function (see :func:`from_callable`)."""

    def __init__(
        self,
        fn,
        classes: Sequence[str],
        min_confidence: float = 0.0,
        mask_threshold: float = 0.5,
        label_offset: int = 0,
        batch_size: int = 8,
        name: str | None = None,
        allow_new_classes: bool = False,
    ):
        if not callable(fn):
            raise ModelError(f"from_callable needs a function images -> results, got {type(fn).__name__}")
        self.fn = fn
        self.classes = [str(c) for c in classes]
        self.min_confidence = float(min_confidence)
        self.mask_threshold = float(mask_threshold)
        self.label_offset = int(label_offset)
        self.batch_size = int(batch_size)
        self.device = "cpu"
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.allow_new_classes = bool(allow_new_classes)

    def _label_name(self, label) -> str | None:
        if isinstance(label, str):
            return label
        i = int(label) - self.label_offset
        if not 0 <= i < len(self.classes):
            raise ProposalError(
                f"{self.name} returned label {int(label)}, but classes has {len(self.classes)} "
                f"names (label_offset={self.label_offset}); int labels index classes"
            )
        return self.classes[i]

    def predict_raw(self, images, min_confidence=None) -> list:
        out = self.fn(list(images))
        if out is None or isinstance(out, (Mapping, str)) or not hasattr(out, "__len__"):
            raise ModelError(
                f"{self.name} must return a list with one result per image, got {type(out).__name__}"
            )
        return list(out)


def from_callable(
    fn,
    classes: Sequence[str],
    min_confidence: float = 0.0,
    mask_threshold: float = 0.5,
    label_offset: int = 0,
    batch_size: int = 8,
    allow_new_classes: bool = False,
) -> CallableProposer:
    """Make a proposer from any function ``fn(images) -> results``.

    Args:
        fn: called with a list of ``(H, W, 3)`` uint8 RGB arrays; returns one
            result per image, either a ``fo.Detections`` (checked, then filtered
            by confidence) or a dict:

            * ``boxes``: ``(N, 4)`` absolute ``[x1, y1, x2, y2]`` pixels;
            * ``labels``: ``(N,)`` int indices into ``classes`` (minus
              ``label_offset``) or ``str`` class names;
            * ``scores``: ``(N,)`` floats in ``[0, 1]``;
            * ``masks`` (optional): ``(N, H, W)`` bool, or float probabilities
              thresholded at ``mask_threshold``; full-image masks. Without masks the
              detections are boxes only.

            Arrays may be lists, numpy arrays or torch tensors.
        classes: the class names (no background).
        min_confidence: drop detections below this score.
        mask_threshold: threshold for float masks.
        label_offset: subtracted from int labels before indexing ``classes``
            (1 for torchvision-style outputs whose label 0 is background).
        batch_size: default batch size for :func:`labelkit.propose`.
        allow_new_classes: accept string labels that are not in ``classes``
            (they then widen the class list of a Labeler); by default they raise
            :class:`~labelkit.errors.ProposalError`.

    Every result is checked against the proposer contract
    (:mod:`labelkit.models.validate`): NaN/inf or wholly-outside boxes, scores
    outside ``[0, 1]``, unknown labels and masks that do not fit their box raise
    ``ProposalError`` for the whole batch; boxes partly outside the image are
    clipped to it with a warning.

    Returns:
        a :class:`CallableProposer`.

    Example:
        >>> import numpy as np, labelkit.models as lkm
        >>> model = lkm.from_callable(
        ...     lambda ims: [{"boxes": [[2, 2, 6, 8]], "labels": [0], "scores": [0.7]} for _ in ims],
        ...     classes=["thing"])
        >>> d = model.predict([np.zeros((10, 10, 3), np.uint8)])[0].detections[0]
        >>> d.label, d.bounding_box, d.mask is None
        ('thing', [0.2, 0.2, 0.4, 0.6], True)
    """
    return CallableProposer(
        fn, classes, min_confidence, mask_threshold, label_offset, batch_size,
        allow_new_classes=allow_new_classes,
    )
