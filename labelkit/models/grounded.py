"""Text-prompted proposals: an open-vocabulary detector finds boxes from class names,
a segmenter turns each box into a mask.

This is how labelkit proposes classes no trained detector knows (the donut of the
sample data): ``lk.models.grounded(classes=["donut"], ...)`` is a normal proposer
for :func:`labelkit.propose`.

Detectors (Hugging Face ``transformers``, downloaded once into the Hugging Face
cache, or a local folder saved with ``save_pretrained``):

* OWLv2 (``google/owlv2-base-patch16-ensemble``, ...): one text query per class
  (``prompt`` formats it, default ``"a photo of a {}"``); each box gets the class
  of its best-scoring query.
* Grounding DINO (``IDEA-Research/grounding-dino-tiny``, ...): one caption
  ``"donut . mug ."``; a box's score for a class is its highest token probability
  over that class's tokens, and it gets the best class.

Boxes below ``box_threshold`` are dropped, the rest go through class-agnostic
non-maximum suppression (``nms_iou``: one object, one proposal, whatever the
class), then the segmenter (default :func:`labelkit.models.grabcut`; for quality
:func:`labelkit.models.sam`) makes one mask per box.

Output contract: the :class:`~labelkit.models.base.Proposer` one. ``predict_raw``
returns, per image, a dict with ``boxes`` ``(N, 4)`` absolute ``[x1, y1, x2, y2]``
pixels, ``labels`` ``(N,)`` int indices into ``classes``, ``scores`` ``(N,)`` in
``[0, 1]`` and ``masks`` ``(N, H, W)`` bool full-image masks; the shared
post-processing crops them into ``fo.Detections``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ModelError
from ..geometry.masks import box_iou
from .base import Proposer, resolve_device
from .segmenters import Segmenter, grabcut, hub_load

#: Hub ids of the open-vocabulary detectors labelkit knows by name.
DETECTORS = (
    "google/owlv2-base-patch16-ensemble",
    "google/owlv2-base-patch16",
    "google/owlv2-large-patch14-ensemble",
    "IDEA-Research/grounding-dino-tiny",
    "IDEA-Research/grounding-dino-base",
)

_FAMILIES = {"owlv2": "owlv2", "grounding-dino": "grounding-dino", "grounding_dino": "grounding-dino"}


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy class-agnostic NMS (highest score first)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for i in order:
        if not keep or box_iou(boxes[i:i + 1], boxes[keep]).max() < iou:
            keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)


class GroundedProposer(Proposer):
    """Open-vocabulary detector + segmenter as a proposer (see the module docstring).

    Args:
        classes: the class names to look for (also the text prompts).
        detector: a ``transformers`` ``Owlv2ForObjectDetection`` or
            ``GroundingDinoForObjectDetection``.
        processor: its processor (image processor + tokenizer).
        segmenter: a :class:`~labelkit.models.segmenters.Segmenter` (default GrabCut).
        box_threshold: minimum detector score of a box.
        nms_iou: class-agnostic NMS IoU (1.0 switches it off).
        prompt: OWLv2 query template (``"{}"`` = the bare class name).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        name: shown in summaries and provenance.
    """

    def __init__(
        self,
        classes: Sequence[str],
        detector,
        processor,
        segmenter: Segmenter | None = None,
        box_threshold: float = 0.2,
        nms_iou: float = 0.5,
        prompt: str = "a photo of a {}",
        device: str = "auto",
        name: str | None = None,
        batch_size: int = 2,
    ):
        classes = [str(c).strip() for c in classes]
        if not classes or any(not c for c in classes) or len(set(classes)) != len(classes):
            raise ModelError(f"grounded() needs distinct, non-empty class names, got {classes!r}")
        model_type = getattr(getattr(detector, "config", None), "model_type", None)
        self.family = _FAMILIES.get(str(model_type))
        if self.family is None:
            raise ModelError(
                f"{type(detector).__name__} (model_type {model_type!r}) is not an OWLv2 or Grounding DINO "
                f"detector; grounded() takes one of {', '.join(DETECTORS)} or a local folder of one"
            )
        self.classes = classes
        self.device = resolve_device(device)
        self.detector = detector.to(self.device).eval()
        self.processor = processor
        self.segmenter = segmenter if segmenter is not None else grabcut()
        self.box_threshold = float(box_threshold)
        self.nms_iou = float(nms_iou)
        self.prompt = prompt
        self.min_confidence = 0.0
        self.mask_threshold = 0.5
        self.batch_size = int(batch_size)
        self.name = name or f"grounded({self.family})"

    def inference_context(self):
        import torch

        return torch.inference_mode()

    # -------------------------------------------------------------- detection
    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` absolute xyxy pixels, class indices ``(N,)`` and scores
        ``(N,)`` for one ``(H, W, 3)`` uint8 image, after the threshold and NMS."""
        import torch

        h, w = image.shape[:2]
        image = np.require(image, requirements=["W"])  # processors hand it to torch.from_numpy
        with torch.inference_mode():
            if self.family == "owlv2":
                boxes, labels, scores = self._detect_owlv2(image, h, w)
            else:
                boxes, labels, scores = self._detect_grounding_dino(image, h, w)
        boxes = np.clip(boxes.reshape(-1, 4), 0, [w, h, w, h])
        ok = (scores >= self.box_threshold) & (boxes[:, 2] > boxes[:, 0] + 1) & (boxes[:, 3] > boxes[:, 1] + 1)
        boxes, labels, scores = boxes[ok], labels[ok], scores[ok]
        if len(boxes) and self.nms_iou < 1.0:
            keep = _nms(boxes, scores, self.nms_iou)
            boxes, labels, scores = boxes[keep], labels[keep], scores[keep]
        return boxes, labels.astype(np.int64), scores.astype(np.float32)

    def _detect_owlv2(self, image, h, w):
        queries = [[self.prompt.format(c) for c in self.classes]]
        inputs = self.processor(text=queries, images=image, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.detector(**inputs)
        res = self.processor.image_processor.post_process_object_detection(
            out, threshold=0.0, target_sizes=[(h, w)]
        )[0]
        return (res["boxes"].float().cpu().numpy(), res["labels"].cpu().numpy(),
                res["scores"].float().cpu().numpy())

    def _token_spans(self, input_ids: list[int]) -> list[list[int]]:
        """For each class, the positions of its tokens in the caption's ``input_ids``."""
        tok = self.processor.tokenizer
        spans, start = [], 0
        for c in self.classes:
            ids = tok(c, add_special_tokens=False)["input_ids"]
            found = None
            for i in range(start, len(input_ids) - len(ids) + 1):
                if input_ids[i:i + len(ids)] == ids:
                    found = list(range(i, i + len(ids)))
                    break
            if not found:
                raise ModelError(f"class {c!r} is not in the Grounding DINO caption (truncated?)")
            spans.append(found)
            start = found[-1] + 1
        return spans

    def _detect_grounding_dino(self, image, h, w):
        import torch

        caption = " . ".join(self.classes) + " ."
        inputs = self.processor(images=image, text=caption, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        out = self.detector(**inputs)
        spans = self._token_spans(inputs["input_ids"][0].tolist())
        probs = torch.sigmoid(out.logits[0]).float().cpu()  # (queries, text length)
        per_class = torch.stack([probs[:, s].max(dim=1).values for s in spans], dim=1)
        scores, labels = per_class.max(dim=1)
        cx, cy, bw, bh = out.pred_boxes[0].float().cpu().unbind(-1)  # relative to the image
        boxes = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1)
        return boxes.numpy(), labels.numpy(), scores.numpy()

    # ----------------------------------------------------------- the contract
    def predict_raw(self, images, min_confidence=None) -> list:
        out = []
        floor = max(self.box_threshold, float(min_confidence or 0.0))
        for image in images:
            boxes, labels, scores = self.detect(image)
            keep = scores >= floor
            boxes, labels, scores = boxes[keep], labels[keep], scores[keep]
            if len(boxes):
                masks, _ = self.segmenter.segment(image, boxes=boxes)
            else:
                masks = np.zeros((0, *image.shape[:2]), dtype=bool)
            out.append({"boxes": boxes, "labels": labels, "scores": scores, "masks": masks})
        return out

    def __repr__(self) -> str:
        return (f"GroundedProposer({self.name!r}, classes={self.classes}, segmenter={self.segmenter!r}, "
                f"box_threshold={self.box_threshold})")


def grounded(
    classes: Sequence[str],
    detector: str = "google/owlv2-base-patch16-ensemble",
    segmenter: Segmenter | None = None,
    box_threshold: float = 0.2,
    nms_iou: float = 0.5,
    prompt: str = "a photo of a {}",
    device: str = "auto",
) -> GroundedProposer:
    """A text-prompted proposer for classes no trained model knows.

    Args:
        classes: class names to propose (``["donut"]``); they are the text prompts.
        detector: hub id (see :data:`DETECTORS`) or a local folder of an OWLv2 or
            Grounding DINO model saved with ``save_pretrained`` (model, processor and
            tokenizer). A hub id is downloaded once into the Hugging Face cache.
        segmenter: box -> mask (default :func:`labelkit.models.grabcut`; e.g.
            ``lk.models.sam("facebook/sam-vit-base")``).
        box_threshold: minimum detector score.
        nms_iou: class-agnostic NMS IoU between boxes.
        prompt: OWLv2 query template.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...

    Returns:
        a :class:`GroundedProposer`, usable with :func:`labelkit.propose`.

    Raises:
        WeightsNotAvailableError: the detector is neither cached nor downloadable;
            the message names the id, the cache folder and the local-folder alternative.

    Example:
        >>> donuts = lk.models.grounded(["donut"], segmenter=lk.models.sam())  # doctest: +SKIP
        >>> lk.propose(ds, donuts, field="grounded")                           # doctest: +SKIP
    """
    import transformers

    def load(source: str, local_only: bool) -> tuple[Any, Any]:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
        family = _FAMILIES.get(config.model_type)
        if family == "owlv2":
            model_cls, proc_cls = transformers.Owlv2ForObjectDetection, transformers.Owlv2Processor
        elif family == "grounding-dino":
            model_cls, proc_cls = transformers.GroundingDinoForObjectDetection, transformers.GroundingDinoProcessor
        else:
            raise ModelError(
                f"'{source}' is a {config.model_type!r} model, not OWLv2 or Grounding DINO "
                f"(known detectors: {', '.join(DETECTORS)})"
            )
        model = model_cls.from_pretrained(source, local_files_only=local_only)
        processor = proc_cls.from_pretrained(source, local_files_only=local_only)
        return model, processor

    model, processor = hub_load(detector, load, "detector", hint="lk.models.grounded(classes, detector='{path}')")
    return GroundedProposer(classes, model, processor, segmenter=segmenter, box_threshold=box_threshold,
                            nms_iou=nms_iou, prompt=prompt, device=device, name=f"grounded({detector})")
