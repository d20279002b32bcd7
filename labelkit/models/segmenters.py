"""Promptable segmenters: a click or a box in, full-resolution masks out.

A *segmenter* turns prompts on one image into instance masks. The contract
(:class:`Segmenter`)::

    masks, scores = segmenter.segment(image, boxes=None, points=None,
                                      point_labels=None, mask_input=None,
                                      multimask=False)

Inputs (image pixels, the labelkit convention: ``x`` is the column, ``y`` the row):

* ``image``: ``(H, W, 3)`` uint8 RGB.
* ``boxes``: ``(N, 4)`` float, absolute ``[x1, y1, x2, y2]``; one object per box.
* ``points``: ``(P, 2)`` float ``(x, y)`` clicks on *one* object, with
  ``point_labels``: ``(P,)`` int, 1 = on the object (positive), 0 = background
  (negative); default all 1.
* ``mask_input``: ``(H, W)`` bool, the object's current mask (a prior), optional.
* Points (and ``mask_input``) describe one object: with points, at most one box.

Outputs:

* ``masks``: ``(K, H, W)`` bool at the image's full resolution;
* ``scores``: ``(K,)`` float32 in ``[0, 1]``, the segmenter's confidence in each mask
  (SAM's predicted IoU; GrabCut: 1.0 for a non-empty mask, 0.0 for an empty one).
* ``K`` is ``N`` for ``N`` boxes without points, else 1; with ``multimask=True`` and
  a single object, segmenters that can (SAM) return their candidates (3), best
  first.

The image embedding is cached per image (a fingerprint of the pixels), so each
further click on the same image costs only the prompt decoder; :meth:`Segmenter.prepare`
computes it ahead of time (e.g. for the next image, while the current one is
reviewed).

Implementations:

* :func:`grabcut` - OpenCV GrabCut (:func:`labelkit.geometry.edit.grabcut_refine`),
  offline, no weights: labelkit's default.
* :func:`sam` - Segment Anything (SAM) and SAM 2 through Hugging Face
  ``transformers`` (``SamModel`` / ``Sam2Model`` with their processors), from a hub
  id (downloaded once into the Hugging Face cache) or a local folder.

Example:
    >>> import numpy as np, labelkit as lk
    >>> seg = lk.models.grabcut()
    >>> image = np.zeros((60, 80, 3), np.uint8); image[10:40, 20:50] = 255
    >>> masks, scores = seg.segment(image, boxes=[[15, 5, 55, 45]])
    >>> masks.shape, masks.dtype, bool(masks[0, 25, 35]), bool(masks[0, 55, 5])
    ((1, 60, 80), dtype('bool'), True, False)
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, PromptError, WeightsNotAvailableError
from ..geometry.edit import grabcut_refine
from .base import resolve_device

#: Hub ids of the SAM checkpoints labelkit knows by name (any other id or a local folder works too).
SAM_MODELS = (
    "facebook/sam-vit-base",
    "facebook/sam-vit-large",
    "facebook/sam-vit-huge",
    "facebook/sam2.1-hiera-tiny",
    "facebook/sam2.1-hiera-small",
    "facebook/sam2.1-hiera-base-plus",
    "facebook/sam2.1-hiera-large",
)


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or img.shape[0] < 1 or img.shape[1] < 1:
        raise PromptError(
            f"a segmenter needs an (H, W, 3) uint8 RGB image, got shape {img.shape} dtype {img.dtype}"
        )
    return img


def _check_prompts(image: np.ndarray, boxes, points, point_labels, mask_input):
    """Validated prompts: (boxes (N, 4) float64 | None, points (P, 2) | None,
    labels (P,) int64 | None, mask (H, W) bool | None)."""
    height, width = image.shape[:2]
    if boxes is not None:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all():
            raise PromptError(f"boxes must be finite [x1, y1, x2, y2] pixels, got {boxes.tolist()}")
        bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        outside = (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0) | (boxes[:, 0] >= width) | (boxes[:, 1] >= height)
        if (bad | outside).any():
            i = int(np.flatnonzero(bad | outside)[0])
            raise PromptError(
                f"box {boxes[i].tolist()} is empty or lies outside the {width}x{height} image "
                "(boxes are absolute [x1, y1, x2, y2] pixels with x2 > x1, y2 > y1)"
            )
        if len(boxes) == 0:
            boxes = None
    if points is not None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise PromptError(f"points must be finite (x, y) pixels, got {points.tolist()}")
        if len(points) == 0:
            points = None
    if points is not None:
        if point_labels is None:
            point_labels = np.ones(len(points), dtype=np.int64)
        point_labels = np.asarray(point_labels, dtype=np.int64).reshape(-1)
        if len(point_labels) != len(points) or not np.isin(point_labels, (0, 1)).all():
            raise PromptError(
                f"point_labels must be one 1 (object) or 0 (background) per point: "
                f"{len(points)} point(s), labels {point_labels.tolist()}"
            )
        if boxes is not None and len(boxes) > 1:
            raise PromptError(
                f"points describe one object, but {len(boxes)} boxes were given; "
                "pass one box with the points, or boxes alone"
            )
    else:
        point_labels = None
    if mask_input is not None:
        mask_input = np.asarray(mask_input).astype(bool, copy=False)
        if mask_input.shape != (height, width):
            raise PromptError(f"mask_input must be ({height}, {width}) like the image, got {mask_input.shape}")
        if boxes is not None and len(boxes) > 1:
            raise PromptError("mask_input describes one object; pass at most one box with it")
    if boxes is None and points is None and mask_input is None:
        raise PromptError("segment() needs a prompt: boxes, points or mask_input")
    return boxes, points, point_labels, mask_input


def fingerprint(image: np.ndarray) -> str:
    """A cheap content key of an image (shape + a strided sample of its pixels)."""
    h, w = image.shape[:2]
    sy, sx = max(h // 64, 1), max(w // 64, 1)
    digest = hashlib.blake2b(np.ascontiguousarray(image[::sy, ::sx]).tobytes(), digest_size=16)
    digest.update(f"{image.shape}".encode())
    return digest.hexdigest()


class Segmenter:
    """Base class of promptable segmenters (see the module docstring for the contract).

    Subclasses implement :meth:`_segment` (prompts already validated) and, when they
    have an image embedding, :meth:`_embed`; the base class validates inputs and
    keeps the per-image cache (``cache_size`` images, least recently used dropped).
    """

    name: str = "segmenter"
    cache_size: int = 4
    #: True when the segmenter computes a per-image embedding worth preparing ahead
    uses_embedding: bool = False

    def __init__(self) -> None:
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.embed_count = 0  # how many embeddings were computed (tests, benchmarks)

    # ------------------------------------------------------------------ contract
    def segment(
        self,
        image,
        boxes=None,
        points=None,
        point_labels=None,
        mask_input=None,
        multimask: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Masks for the prompts on ``image``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            boxes: ``(N, 4)`` absolute ``[x1, y1, x2, y2]`` pixels, one object each.
            points: ``(P, 2)`` ``(x, y)`` pixel clicks on one object.
            point_labels: ``(P,)`` 1 = object, 0 = background (default all 1).
            mask_input: ``(H, W)`` bool prior mask of the object.
            multimask: return several candidates for a single object (best first).

        Returns:
            ``(masks, scores)``: ``(K, H, W)`` bool full-resolution masks and ``(K,)``
            float32 scores (see the module docstring for ``K``).

        Raises:
            PromptError: a malformed image or prompt (the message names it).
        """
        image = _check_image(image)
        boxes, points, point_labels, mask_input = _check_prompts(image, boxes, points, point_labels, mask_input)
        masks, scores = self._segment(image, boxes, points, point_labels, mask_input, bool(multimask))
        masks = np.asarray(masks, dtype=bool)
        scores = np.clip(np.asarray(scores, dtype=np.float32).reshape(-1), 0.0, 1.0)
        if masks.ndim != 3 or masks.shape[1:] != image.shape[:2] or len(scores) != len(masks):
            raise ModelError(
                f"{self.name} returned masks {masks.shape} and {len(scores)} scores for a "
                f"{image.shape[1]}x{image.shape[0]} image"
            )
        return masks, scores

    def prepare(self, image) -> None:
        """Compute and cache what :meth:`segment` needs of ``image`` (its embedding),
        so the first click on it is as fast as the next ones. Thread-safe: call it
        from a background thread for the next image."""
        self._embedding(_check_image(image))

    def _embedding(self, image: np.ndarray):
        key = fingerprint(image)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = self._embed(image)
        with self._lock:
            self.embed_count += 1
            self._cache[key] = value
            while len(self._cache) > max(int(self.cache_size), 1):
                self._cache.popitem(last=False)
        return value

    def clear_cache(self) -> None:
        """Forget every cached embedding."""
        with self._lock:
            self._cache.clear()

    def _embed(self, image: np.ndarray):  # pragma: no cover - trivial default
        return None

    def _segment(self, image, boxes, points, point_labels, mask_input, multimask):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class GrabCutSegmenter(Segmenter):
    """OpenCV GrabCut behind the segmenter contract (offline, no weights).

    Each object is refined from its prior: ``mask_input`` when given, else its box,
    else a disc around the positive clicks (see
    :func:`labelkit.geometry.edit.grabcut_refine`, which does the work). GrabCut has
    no image embedding and no candidates: ``multimask`` returns one mask, scored 1.0
    (0.0 when empty).

    Args:
        iterations: GrabCut iterations.
        max_pixels: crops larger than this are downscaled for GrabCut.
    """

    name = "grabcut"

    def __init__(self, iterations: int = 3, max_pixels: int = 250_000):
        super().__init__()
        self.iterations = int(iterations)
        self.max_pixels = int(max_pixels)

    def _segment(self, image, boxes, points, point_labels, mask_input, multimask):
        pos = [] if points is None else points[point_labels == 1].tolist()
        neg = [] if points is None else points[point_labels == 0].tolist()
        objects = [None] if boxes is None else list(boxes)
        if points is not None or mask_input is not None:
            objects = objects[:1]
        masks = []
        for box in objects:
            masks.append(
                grabcut_refine(
                    image,
                    mask=mask_input,
                    box=None if box is None else box.tolist(),
                    positive=pos,
                    negative=neg,
                    iterations=self.iterations,
                    max_pixels=self.max_pixels,
                )
            )
        masks = np.stack(masks)
        return masks, masks.reshape(len(masks), -1).any(axis=1).astype(np.float32)


def grabcut(iterations: int = 3, max_pixels: int = 250_000) -> GrabCutSegmenter:
    """The GrabCut segmenter: labelkit's offline default for click-to-refine and box-to-mask.

    Example:
        >>> seg = grabcut()
        >>> seg.name
        'grabcut'
    """
    return GrabCutSegmenter(iterations=iterations, max_pixels=max_pixels)


# ----------------------------------------------------------------- SAM / SAM 2


class SamSegmenter(Segmenter):
    """SAM or SAM 2 (Hugging Face ``transformers``) behind the segmenter contract.

    The image goes through the model's own image processor and vision encoder once
    (cached, see :meth:`prepare`); each call then runs only the prompt encoder and
    mask decoder. Prompts are converted from image pixels into the model's input
    frame with the processor's own coordinate normalisation, and the low-resolution
    mask logits are upsampled to the full image with the processor's
    ``post_process_masks``, thresholded at 0.

    Build one with :func:`sam` (hub id or local folder), or from a model and a
    processor you already have::

        SamSegmenter(SamModel(config), SamProcessor(image_processor), device="cpu")

    Args:
        model: a ``transformers`` ``SamModel`` or ``Sam2Model``.
        processor: the matching ``SamProcessor`` / ``Sam2Processor``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        name: shown in provenance (the hub id or folder).
    """

    uses_embedding = True

    def __init__(self, model, processor, device: str = "auto", name: str | None = None):
        super().__init__()
        import torch

        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.family = getattr(getattr(model, "config", None), "model_type", "sam")
        self.family = "sam2" if self.family == "sam2_video" else self.family
        if self.family not in ("sam", "sam2"):
            raise ModelError(f"{type(model).__name__} (model_type {self.family!r}) is not a SAM or SAM 2 model")
        self.name = name or f"{self.family}:{type(model).__name__}"
        self._torch = torch

    # the image: processor + vision encoder, once per image
    def _embed(self, image: np.ndarray):
        torch = self._torch
        image = np.require(image, requirements=["W"])  # the processor hands it to torch.from_numpy
        enc = self.processor.image_processor(images=image, return_tensors="pt")
        pixel_values = enc["pixel_values"].to(self.device)
        with torch.inference_mode():
            embedding = self.model.get_image_embeddings(pixel_values)
        original = [int(v) for v in np.asarray(enc["original_sizes"]).reshape(-1)[:2]]
        reshaped = enc.get("reshaped_input_sizes")
        reshaped = None if reshaped is None else [int(v) for v in np.asarray(reshaped).reshape(-1)[:2]]
        return {"embedding": embedding, "original_size": original, "reshaped_size": reshaped}

    def _to_model_frame(self, coords: np.ndarray, original_size, is_box: bool) -> np.ndarray:
        """Image-pixel coordinates -> the model's input frame (the processor's own rule:
        SAM scales by the resized longest side, SAM 2 stretches to its square input)."""
        proc = self.processor
        target = getattr(proc, "target_size", None)
        if target is None:
            size = proc.image_processor.size
            target = size.get("longest_edge") or size.get("height")
        try:
            out = proc._normalize_coordinates(target, coords.copy(), original_size, is_bounding_box=is_box)
        except (AttributeError, TypeError):
            out = proc._normalize_coordinates(
                target, self._torch.as_tensor(coords), original_size, is_bounding_box=is_box
            )
        return np.asarray(out, dtype=np.float32)

    def _mask_prior(self, mask: np.ndarray, emb) -> Any:
        """A bool full-image mask as the low-resolution logits the prompt encoder takes
        (``(1, 1, 4*h, 4*w)``, +8 inside, -8 outside), placed like the image."""
        import cv2

        torch = self._torch
        embedding = emb["embedding"]
        if isinstance(embedding, (list, tuple)):  # SAM 2: feature levels, the last one is the coarsest
            embedding = embedding[-1]
        h_emb, w_emb = (int(v) for v in embedding.shape[-2:])
        side_h, side_w = 4 * h_emb, 4 * w_emb
        H, W = mask.shape
        if self.family == "sam" and emb["reshaped_size"] is not None:
            rh, rw = emb["reshaped_size"]
            pad_h = self.processor.image_processor.pad_size["height"]
            pad_w = self.processor.image_processor.pad_size["width"]
            canvas = np.zeros((pad_h, pad_w), np.uint8)
            canvas[:rh, :rw] = cv2.resize(mask.astype(np.uint8), (rw, rh), interpolation=cv2.INTER_NEAREST)
        else:
            canvas = mask.astype(np.uint8)
        low = cv2.resize(canvas, (side_w, side_h), interpolation=cv2.INTER_AREA) > 0
        logits = np.where(low, 8.0, -8.0).astype(np.float32)
        return torch.from_numpy(logits)[None, None].to(self.device)

    def _segment(self, image, boxes, points, point_labels, mask_input, multimask):
        torch = self._torch
        emb = self._embedding(image)
        original = emb["original_size"]
        kwargs: dict[str, Any] = {}
        n_objects = 1
        if points is not None:
            pts = self._to_model_frame(points, original, is_box=False)
            kwargs["input_points"] = torch.from_numpy(pts)[None, None].to(self.device)
            kwargs["input_labels"] = torch.from_numpy(point_labels)[None, None].to(self.device)
        if boxes is not None:
            bx = self._to_model_frame(boxes, original, is_box=True).reshape(-1, 4)
            kwargs["input_boxes"] = torch.from_numpy(bx)[None].to(self.device)
            n_objects = len(bx)
        if mask_input is not None:
            kwargs["input_masks"] = self._mask_prior(mask_input, emb)
        multimask = multimask and n_objects == 1
        with torch.inference_mode():
            out = self.model(image_embeddings=emb["embedding"], multimask_output=multimask, **kwargs)
        pred = out.pred_masks.float().cpu()  # (1, N, M, h, w)
        scores = out.iou_scores.float().cpu().numpy().reshape(-1)
        if self.family == "sam":
            full = self.processor.post_process_masks(
                pred, [original], [emb["reshaped_size"]], binarize=True
            )[0]
        else:
            full = self.processor.post_process_masks(pred, [original], binarize=True)[0]
        masks = np.asarray(full.numpy() if hasattr(full, "numpy") else full).astype(bool)
        masks = masks.reshape(-1, original[0], original[1])
        if len(masks) > 1 and multimask:
            order = np.argsort(-scores, kind="stable")
            masks, scores = masks[order], scores[order]
        return masks, scores


def _hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - only for the message
        return os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")


def _offline() -> bool:
    from .torchvision_models import is_offline

    return is_offline()


def _model_classes(model_type: str):
    import transformers

    if model_type == "sam":
        return transformers.SamModel, transformers.SamProcessor
    if model_type in ("sam2", "sam2_video"):  # the hub's SAM 2.1 checkpoints are saved as sam2_video
        return transformers.Sam2Model, transformers.Sam2Processor
    raise ModelError(
        f"model type {model_type!r} is not SAM or SAM 2; lk.models.sam() loads "
        f"{', '.join(SAM_MODELS)} or a local folder of one of them"
    )


def hub_load(name_or_path: str | os.PathLike, load, what: str, hint: str = "lk.models.sam('{path}')"):
    """Run ``load(source, local_files_only)`` for a hub id or a local folder with
    labelkit's offline rules: a local folder is read as it is; a hub id is looked up
    in the Hugging Face cache first and downloaded once when missing (never when
    ``LABELKIT_OFFLINE`` / ``HF_HUB_OFFLINE`` is set). A missing model raises
    :class:`~labelkit.errors.WeightsNotAvailableError` naming the id, the cache
    folder and the local-folder alternative (``hint``, a call with ``{path}``)."""
    path = Path(str(name_or_path)).expanduser()
    if path.is_dir():
        try:
            return load(str(path), True)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"'{path}' is not a {what} folder saved with save_pretrained() "
                f"(config.json + weights): {exc}"
            ) from exc
    name = str(name_or_path)
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, not an "org/name" hub id
        raise WeightsNotAvailableError(f"{what} folder '{path}' does not exist")
    try:
        return load(name, True)
    except OSError as cached_exc:
        reason = f"not in the Hugging Face cache {_hf_cache_dir()}"
        if not _offline():
            try:
                return load(name, False)
            except OSError as exc:
                reason += f", and the download failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        else:
            reason += " and labelkit is offline (LABELKIT_OFFLINE / HF_HUB_OFFLINE is set)"
        raise WeightsNotAvailableError(
            f"{what} '{name}' is {reason}. Download it once where there is network "
            f"(huggingface-cli download {name}), or pass a local folder saved with "
            f"save_pretrained(): {hint.format(path='/path/to/' + name.rsplit('/', 1)[-1])}"
        ) from cached_exc


def sam(name_or_path: str | os.PathLike = "facebook/sam-vit-base", device: str = "auto") -> SamSegmenter:
    """Segment Anything (SAM or SAM 2) as a segmenter, through Hugging Face ``transformers``.

    Args:
        name_or_path: a hub id (``"facebook/sam-vit-base"``,
            ``"facebook/sam2.1-hiera-tiny"``, ... see :data:`SAM_MODELS`) or a local
            folder saved with ``save_pretrained()`` (model and processor). A hub id is
            downloaded once into the Hugging Face cache on first use.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...

    Returns:
        a :class:`SamSegmenter`.

    Raises:
        WeightsNotAvailableError: the weights are neither cached nor downloadable
            (offline); the message names the id, the cache folder and the
            local-folder alternative.
        ModelError: the folder or id is not a SAM / SAM 2 model.

    Example:
        >>> seg = sam("facebook/sam-vit-base")                        # doctest: +SKIP
        >>> masks, scores = seg.segment(image, points=[[120, 80]])    # doctest: +SKIP
    """
    import transformers

    def load(source: str, local_only: bool):
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
        model_cls, proc_cls = _model_classes(config.model_type)
        model = model_cls.from_pretrained(source, local_files_only=local_only)
        processor = proc_cls.from_pretrained(source, local_files_only=local_only)
        return model, processor

    model, processor = hub_load(name_or_path, load, "SAM model")
    return SamSegmenter(model, processor, device=device, name=str(name_or_path))


def segmenter_name(segmenter: Segmenter | None) -> str:
    """A short provenance string for a segmenter (``"grabcut"``, ``"facebook/sam-vit-base"``)."""
    return getattr(segmenter, "name", None) or type(segmenter).__name__


__all__: Sequence[str] = (
    "SAM_MODELS",
    "GrabCutSegmenter",
    "SamSegmenter",
    "Segmenter",
    "fingerprint",
    "grabcut",
    "hub_load",
    "sam",
    "segmenter_name",
)
