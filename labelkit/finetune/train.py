"""Fine-tune a Mask R-CNN proposer on reviewed (or ground-truth) labels.

``lk.finetune(model, ds)`` trains a copy of a torchvision Mask R-CNN proposer on the
instance masks of a FiftyOne labels field and returns a new proposer (same
:class:`~labelkit.models.base.Proposer` contract), saved as a labelkit checkpoint.

Which samples train:

* **review mode** - the labels field carries labelkit review provenance (a
  ``source`` on the labels of reviewed samples): the samples with
  ``review_status == "done"`` (their labels are the reviewer's corrected ones; a
  done sample with no labels is a negative image: everything was rejected).
  Unreviewed and skipped samples are left out.
* **ground-truth mode** - plain ground truth (e.g. imported COCO annotations, no
  provenance): every sample whose labels field is set.

``mode="auto"`` picks between them the way :func:`labelkit.audit.audit` does.

Classes: the fine-tuned model keeps every class of the original model and adds the
classes found in the labels that it does not know. When classes are added (or
``classes=`` changes the list), the box predictor (``FastRCNNPredictor``) and the
mask predictor (``MaskRCNNPredictor``) are replaced by ones with
``len(classes) + 1`` outputs; the rows of classes that already existed (and of
background) are copied, so known classes start from their trained weights and
only the new rows start from scratch.

Training: AdamW (weight decay on weights, not on norms/biases), linear warm-up
then cosine decay, gradient clipping at norm 10, BatchNorm statistics frozen (a
batch of 2 is too small to estimate them), augmentation by horizontal flip and a
mild brightness/contrast/saturation jitter. The samples are split into train and
validation sets by sample (seeded); after each epoch the validation metric is
computed - mask AP50 (pycocotools ``COCOeval``, ``iouType="segm"``) by default,
or the validation loss with ``metric="loss"`` (cheaper for big models on a CPU)
- and the best epoch is saved as a labelkit checkpoint. Training stops early
after ``patience`` epochs without improvement.

Example:
    >>> import labelkit as lk  # doctest: +SKIP
    >>> better = lk.finetune(lk.models.sample(), ds, labels="ground_truth", epochs=10)  # doctest: +SKIP
    >>> better.history[-1]["val_map50"], better.checkpoint_path  # doctest: +SKIP
    >>> lk.propose(new_ds, better)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import math
import re
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageReadError, LabelkitError, ModelError, SchemaError
from ..geometry import masks as _masks

logger = logging.getLogger("labelkit")

#: Default learning rate per architecture (AdamW).
DEFAULT_LR = {"compact": 1e-4, "maskrcnn_resnet50_fpn_v2": 1e-4}

#: Validation metrics: name -> (history key, higher is better).
METRICS = {"map50": ("val_map50", True), "loss": ("val_loss", False)}

_SUPPORTED = (
    "fine-tuning needs a torchvision Mask R-CNN proposer of a labelkit architecture "
    "('compact' or 'maskrcnn_resnet50_fpn_v2'): lk.models.sample(), lk.models.maskrcnn(...), "
    "lk.models.load(checkpoint) or a proposer returned by lk.finetune"
)


@dataclass
class _Record:
    """One training sample: where the image is and its instances (FiftyOne detections)."""

    sample_id: str
    filepath: str
    detections: list  # fo.Detection with label in the model's classes


# ------------------------------------------------------------------------ checks


def _check_model(model) -> None:
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    from ..models import TorchvisionProposer
    from ..models.torchvision_models import ARCHS

    if not isinstance(model, TorchvisionProposer):
        raise ModelError(f"{_SUPPORTED}; got a {type(model).__name__}")
    module = model.module
    if not isinstance(module, MaskRCNN):
        raise ModelError(f"{_SUPPORTED}; this proposer wraps a {type(module).__name__}")
    roi = module.roi_heads
    if not isinstance(roi.box_predictor, FastRCNNPredictor) or not isinstance(
        roi.mask_predictor, MaskRCNNPredictor
    ):
        raise ModelError(
            f"{_SUPPORTED}; this Mask R-CNN has a custom box/mask predictor "
            f"({type(roi.box_predictor).__name__}, {type(roi.mask_predictor).__name__})"
        )
    if model.arch not in ARCHS:
        raise ModelError(
            f"{_SUPPORTED}; this proposer has no labelkit architecture (arch={model.arch!r}), so "
            "its fine-tuned weights could not be saved as a loadable checkpoint"
        )


def _pick_mode(coll, schema, labels: str, mode: str) -> str:
    """'review' or 'ground_truth' (see the module docstring); errors when nothing is labelled."""
    from fiftyone import ViewField as F

    name = coll._dataset.name
    done = coll.match(F("review_status") == "done") if "review_status" in schema else None
    n_done = len(done) if done is not None else 0
    hint = (
        f"review and submit some samples first (lk.Labeler(ds, labels='{labels}'), then Enter / "
        f"session.submit()), or put ground truth into '{labels}'"
    )
    if mode == "review":
        if n_done == 0:
            raise LabelkitError(
                f"no labelled samples to fine-tune on: no sample of '{name}' has review_status "
                f"'done'; {hint}"
            )
        return "review"
    if mode == "ground_truth":
        if coll.exists(labels).count() == 0:
            raise LabelkitError(f"no labelled samples to fine-tune on: '{labels}' of '{name}' is empty; {hint}")
        return "ground_truth"
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'review' or 'ground_truth', got {mode!r}")
    if n_done > 0:
        if done.count(f"{labels}.detections.source") > 0 or done.count(f"{labels}.detections") == 0:
            return "review"
        return "ground_truth"
    if coll.count(f"{labels}.detections") > 0 and coll.count(f"{labels}.detections.source") == 0:
        return "ground_truth"
    raise LabelkitError(
        f"no labelled samples to fine-tune on: no sample of '{name}' is reviewed (review_status "
        f"'done') and '{labels}' holds no ground truth; {hint}"
    )


def _collect(coll, labels: str, mode: str) -> list[_Record]:
    from fiftyone import ViewField as F

    view = coll.match(F("review_status") == "done") if mode == "review" else coll.exists(labels)
    ids, paths, dets = view.values(["id", "filepath", f"{labels}.detections"])
    records = []
    for sid, path, d in zip(ids, paths, dets, strict=True):
        kept = [x for x in (d or []) if not (x.has_field("iscrowd") and x.get_field("iscrowd"))]
        records.append(_Record(sid, path, kept))
    return records


# ----------------------------------------------------------------- class heads


def _label_names(model) -> list[str | None]:
    """Model label -> class name (index 0 background, None for placeholders)."""
    return list(model.label_names)


def _target_names(old: list[str | None], data_classes: Sequence[str], classes) -> list[str | None]:
    if classes is None:
        known = {n for n in old if n is not None}
        return list(old) + [c for c in data_classes if c not in known]
    if isinstance(classes, str):
        classes = [classes]
    classes = list(dict.fromkeys(str(c) for c in classes))
    if not classes:
        raise ValueError("classes must name at least one class")
    return [None] + classes


def grow_heads(module, old_names: Sequence[str | None], new_names: Sequence[str | None], seed: int = 0):
    """Replace the box and mask predictors of a Mask R-CNN for a new class list.

    Rows of classes present in both lists (by name; background is row 0 of both;
    unnamed placeholder rows are matched by position when both lists keep them) are
    copied, so those classes keep their weights exactly; rows of new classes get
    torchvision's default initialisation (seeded).

    Args:
        module: a torchvision ``MaskRCNN`` with ``FastRCNNPredictor`` /
            ``MaskRCNNPredictor`` heads (modified in place).
        old_names: model label -> name of the current heads (index 0 background).
        new_names: model label -> name wanted.
        seed: seeds the initialisation of new rows.

    Returns:
        ``{new_index: old_index}`` of the rows copied.
    """
    import torch
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor

    roi = module.roi_heads
    old_box, old_mask = roi.box_predictor, roi.mask_predictor
    n_old = old_box.cls_score.out_features
    if len(old_names) != n_old:
        raise ModelError(f"the model has {n_old} class outputs but {len(old_names)} label names")
    index = {n: i for i, n in enumerate(old_names) if n is not None and i > 0}
    rows: dict[int, int] = {0: 0}
    for j, n in enumerate(new_names):
        if j == 0:
            continue
        if n is not None and n in index:
            rows[j] = index[n]
        elif n is None and j < n_old and old_names[j] is None:
            rows[j] = j
    num = len(new_names)
    device = old_box.cls_score.weight.device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        box = FastRCNNPredictor(old_box.cls_score.in_features, num)
        conv5 = old_mask.conv5_mask
        mask = MaskRCNNPredictor(conv5.in_channels, conv5.out_channels, num)
    box, mask = box.to(device), mask.to(device)
    with torch.no_grad():
        mask.conv5_mask.load_state_dict(conv5.state_dict())
        src = torch.tensor(list(rows.values()), device=device)
        dst = torch.tensor(list(rows.keys()), device=device)
        box.cls_score.weight[dst] = old_box.cls_score.weight[src]
        box.cls_score.bias[dst] = old_box.cls_score.bias[src]
        src4 = (src[:, None] * 4 + torch.arange(4, device=device)).reshape(-1)
        dst4 = (dst[:, None] * 4 + torch.arange(4, device=device)).reshape(-1)
        box.bbox_pred.weight[dst4] = old_box.bbox_pred.weight[src4]
        box.bbox_pred.bias[dst4] = old_box.bbox_pred.bias[src4]
        mask.mask_fcn_logits.weight[dst] = old_mask.mask_fcn_logits.weight[src]
        mask.mask_fcn_logits.bias[dst] = old_mask.mask_fcn_logits.bias[src]
    roi.box_predictor, roi.mask_predictor = box, mask
    return rows


# --------------------------------------------------------------------- examples


class _Images:
    """Reads images with :func:`labelkit.media.image.read_image`, keeping up to ``budget`` bytes."""

    def __init__(self, budget: int = 1 << 30):
        self.budget = budget
        self.used = 0
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, path: str) -> np.ndarray:
        from ..media.image import read_image

        im = self.cache.get(path)
        if im is None:
            im = read_image(path)
            if self.used + im.nbytes <= self.budget:
                self.cache[path] = im
                self.used += im.nbytes
        return im


def _instances(rec: _Record, label_index: Mapping[str, int], h: int, w: int):
    """Full-image masks ``(N, H, W)`` bool and model labels ``(N,)`` of a record (empty masks dropped)."""
    ms, ls = [], []
    for d in rec.detections:
        lab = label_index.get(d.label)
        if lab is None:
            continue
        m = _masks.detection_mask(d, w, h)
        if m.any():
            ms.append(m)
            ls.append(lab)
    masks = np.stack(ms) if ms else np.zeros((0, h, w), bool)
    return masks, np.asarray(ls, dtype=np.int64)


def _example(image: np.ndarray, masks: np.ndarray, labels: np.ndarray, rng, augment: bool, device):
    """An image tensor ``(3, H, W)`` float [0, 1] and its Mask R-CNN target, augmented."""
    import torch

    if augment and rng.random() < 0.5:
        image = image[:, ::-1]
        masks = masks[:, :, ::-1]
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:  # read_image's arrays are read-only; torch wants writable
        image = image.copy()
    img = torch.from_numpy(image).to(device).permute(2, 0, 1).float().div_(255.0)
    if augment:
        b, c, s = rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)
        gray = img.mean(0, keepdim=True)
        img = gray + (img - gray) * s
        mean = img.mean()
        img = ((img - mean) * c + mean) * b
        img = img.clamp_(0, 1)
    masks = np.ascontiguousarray(masks)
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, m in enumerate(masks):
        boxes[k] = _masks.mask_bbox(m)
    target = dict(
        boxes=torch.from_numpy(boxes).reshape(-1, 4).to(device),
        labels=torch.from_numpy(labels).to(device),
        masks=torch.from_numpy(masks.astype(np.uint8)).to(device),
    )
    return img, target


# ------------------------------------------------------------------------ helpers


def _freeze_bn(module) -> None:
    """Put every BatchNorm in eval mode (use, don't update, its running statistics)."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _lr_factor(it: int, total: int, warmup: int) -> float:
    """Linear warm-up from 10 %, then cosine decay to 10 % of the base rate."""
    if warmup > 0 and it < warmup:
        return 0.1 + 0.9 * it / warmup
    t = (it - warmup) / max(total - warmup, 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def _default_out(dataset_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset_name) or "dataset"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "labelkit-finetune" / safe / f"finetuned-{stamp}.pt"


def _ckpt_names(names: Sequence[str | None]) -> list[str]:
    return ["N/A" if n is None else str(n) for n in names[1:]]


def _val_outputs(module, val, images, label_index, names, device, batch: int = 2):
    """Predict the validation images; return COCO mask AP (pycocotools) inputs."""
    import torch

    from ..io.coco import mask_ap_from_masks

    gts, preds = [], []
    module.eval()
    with torch.no_grad():
        for i in range(0, len(val), batch):
            chunk = val[i : i + batch]
            ims = [images(r.filepath) for r in chunk]
            tensors = [torch.from_numpy(np.array(im)).to(device).permute(2, 0, 1).float().div_(255.0) for im in ims]
            outs = module(tensors)
            for rec, im, out in zip(chunk, ims, outs, strict=True):
                h, w = im.shape[:2]
                gm, gl = _instances(rec, label_index, h, w)
                gts.append(([names[k] for k in gl], gm))
                pm = (out["masks"][:, 0] > 0.5).cpu().numpy() if len(out["boxes"]) else np.zeros((0, h, w), bool)
                pl = [names[int(k)] or "N/A" for k in out["labels"].tolist()]
                preds.append((pl, out["scores"].tolist(), pm))
    return mask_ap_from_masks(gts, preds)


def _val_loss(module, val, images, label_index, device, batch: int = 2) -> float:
    import torch

    module.train()
    _freeze_bn(module)
    total, n = 0.0, 0
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for i in range(0, len(val), batch):
            chunk = val[i : i + batch]
            ims, tgs = [], []
            for r in chunk:
                im = images(r.filepath)
                m, lab = _instances(r, label_index, *im.shape[:2])
                x, t = _example(im, m, lab, rng, False, device)
                ims.append(x)
                tgs.append(t)
            losses = module(ims, tgs)
            total += float(sum(losses.values())) * len(chunk)
            n += len(chunk)
    return total / max(n, 1)


# ----------------------------------------------------------------------- finetune


def finetune(
    model,
    samples,
    labels: str = "ground_truth",
    epochs: int = 10,
    batch_size: int = 2,
    lr: float | None = None,
    val_fraction: float = 0.2,
    patience: int = 3,
    device: str = "auto",
    out: str | Path | None = None,
    progress: bool = True,
    seed: int = 0,
    max_iters: int | None = None,
    classes: Sequence[str] | None = None,
    *,
    metric: str = "map50",
    mode: str = "auto",
    augment: bool = True,
    freeze_backbone: bool = False,
    weight_decay: float = 1e-4,
    warmup: int | None = None,
):
    """Fine-tune a Mask R-CNN proposer on the instance masks of a labels field.

    See the module docstring for which samples train, how classes are added and
    the training recipe.

    Args:
        model: a torchvision Mask R-CNN proposer of a labelkit architecture:
            ``lk.models.sample()``, ``lk.models.maskrcnn(...)`` (COCO; pass e.g.
            ``min_size=512`` to train faster on small images), ``lk.models.load(...)``
            or an earlier ``lk.finetune`` result. It is not modified.
        samples: a dataset name, ``fo.Dataset`` or view.
        labels: the ``fo.Detections`` field with the (reviewed or ground-truth)
            instance masks.
        epochs: maximum passes over the training samples.
        batch_size: images per optimizer step.
        lr: AdamW base learning rate (default :data:`DEFAULT_LR` of the
            architecture: 1e-4). ``0`` trains nothing.
        val_fraction: share of the labelled samples held out for validation (split
            by sample, seeded; at least one when there are two or more samples and
            ``val_fraction > 0``). ``0``: no validation; the best epoch is then the
            one with the lowest mean training loss.
        patience: stop after this many epochs without a better validation metric.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        out: where to save the best checkpoint; its folder must exist (default
            ``<tempdir>/labelkit-finetune/<dataset>/finetuned-<time>.pt``, folder
            created).
        progress: show a progress bar (``tqdm.auto``: a widget in notebooks).
        seed: seeds the split, the order, the augmentation and new head rows.
        max_iters: stop after this many optimizer steps in total (the epoch in
            progress is then validated and training ends).
        classes: the class list of the fine-tuned model (default: the model's
            classes plus any new classes of the labels). Labels of other classes
            are ignored; classes of the model not listed are dropped.
        metric: validation metric: ``"map50"`` (mask AP50, pycocotools
            ``COCOeval`` ``iouType="segm"``; needs a prediction pass over the
            validation images) or ``"loss"`` (the sum of Mask R-CNN's losses on
            the validation images; cheaper).
        mode: ``"auto"``, ``"review"`` or ``"ground_truth"`` (see the module docstring).
        augment: horizontal flips and a mild colour jitter while training.
        freeze_backbone: train only the FPN, RPN and RoI heads (the backbone body
            keeps its weights): faster, and safer with very few labels.
        weight_decay: AdamW weight decay (weights only).
        warmup: warm-up steps (default: 10 % of the planned steps, at most 50).

    Returns:
        a :class:`~labelkit.models.TorchvisionProposer` loaded from the best
        checkpoint, with ``history`` (one dict per epoch: ``epoch``,
        ``iterations``, ``lr``, ``train_loss`` and each loss term, the validation
        metric ``val_map50``/``val_ap`` or ``val_loss``, ``seconds``, ``best``) and
        ``checkpoint_path``. The checkpoint (``"labelkit.maskrcnn/1"``) loads with
        ``lk.models.load(path)`` or ``lk.models.maskrcnn(weights=path)``; its
        ``meta["finetune"]`` records the data, settings and history.

    Raises:
        LabelkitError: no labelled samples (review and submit some first), or no
            labelled instance of a class the model can learn.
        ModelError: the model is not a supported Mask R-CNN proposer.
        SchemaError: ``labels`` is missing or not ``fo.Detections``.
        OutputPathError: ``out`` is a folder, or its folder is missing or not
            writable (checked before training starts).
    """
    import torch
    from tqdm.auto import tqdm

    from ..io.paths import check_output_path
    from ..models import load, save_checkpoint
    from ..models.base import resolve_device
    from ..store.dataset import open_dataset

    _check_model(model)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if max_iters is not None and max_iters < 1:
        raise ValueError(f"max_iters must be >= 1 (or None), got {max_iters}")
    if out is not None:  # a bad checkpoint path fails now, not after the first epoch
        check_output_path(out, what="fine-tune checkpoint (out=)", kind="file")

    import fiftyone as fo

    coll = open_dataset(samples)
    schema = coll.get_field_schema()
    if labels not in schema:
        raise SchemaError(
            f"'{coll._dataset.name}' has no field '{labels}'; name the fo.Detections field holding "
            "the labels (labels=...)"
        )
    field = schema[labels]
    if getattr(field, "document_type", None) is not fo.Detections:
        raise SchemaError(f"'{labels}' of '{coll._dataset.name}' is not fo.Detections ({field})")
    mode = _pick_mode(coll, schema, labels, mode)
    records = _collect(coll, labels, mode)
    if not records:
        raise LabelkitError(
            f"no labelled samples to fine-tune on in '{coll._dataset.name}' ({mode} mode); review "
            "and submit some samples first"
        )

    # classes
    old_names = _label_names(model)
    data_classes = sorted({d.label for r in records for d in r.detections})
    new_names = _target_names(old_names, data_classes, classes)
    label_index = {n: i for i, n in enumerate(new_names) if n is not None and i > 0}
    ignored = sorted(set(data_classes) - set(label_index))
    if ignored:
        warnings.warn(f"labels of classes {ignored} are not in classes=... and are ignored", stacklevel=2)
    n_instances = sum(1 for r in records for d in r.detections if d.label in label_index)
    if n_instances == 0:
        raise LabelkitError(
            f"the {len(records)} labelled sample(s) hold no instance of the model's classes "
            f"({', '.join(n for n in new_names if n)[:200]}); nothing to learn"
        )
    added = [n for n in new_names[1:] if n is not None and n not in set(old_names)]

    # split by sample (seeded)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(records))
    n_val = 0
    if val_fraction > 0 and len(records) >= 2:
        n_val = min(max(1, round(val_fraction * len(records))), len(records) - 1)
    val = [records[i] for i in sorted(order[:n_val])]
    train = [records[i] for i in sorted(order[n_val:])]
    if metric == "map50" and val and not any(d.label in label_index for r in val for d in r.detections):
        metric = "loss"  # an AP needs ground truth
        warnings.warn("the validation samples hold no instance; validating on the loss", stacklevel=2)
    metric_key, higher = METRICS[metric] if val else ("train_loss", False)

    # the model to train: a copy, heads grown for new classes
    device = resolve_device(device)
    torch.manual_seed(seed)
    module = copy.deepcopy(model.module).to("cpu")
    if new_names != old_names:
        grow_heads(module, old_names, new_names, seed=seed)
    module.to(device)
    if freeze_backbone:
        for p in module.backbone.body.parameters():
            p.requires_grad_(False)
    params = [p for p in module.parameters() if p.requires_grad]
    base_lr = float(DEFAULT_LR.get(model.arch, 1e-4) if lr is None else lr)
    optimizer = torch.optim.AdamW(
        [
            dict(params=[p for p in params if p.ndim > 1], weight_decay=weight_decay),
            dict(params=[p for p in params if p.ndim <= 1], weight_decay=0.0),
        ],
        lr=base_lr,
    )
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch if max_iters is None else min(epochs * steps_per_epoch, max_iters)
    warmup = min(50, total // 10) if warmup is None else int(warmup)

    ds_name = coll._dataset.name
    if out is not None:
        path = Path(out).expanduser()
    else:
        path = _default_out(ds_name)
        path.parent.mkdir(parents=True, exist_ok=True)  # labelkit's own folder, made on demand
    ckpt_classes = _ckpt_names(new_names)
    restricted = list(model.classes) != list(model.all_classes)
    out_classes = (list(model.classes) + added) if restricted and classes is None else None
    images = _Images()
    info: dict[str, Any] = dict(
        dataset=ds_name, labels=labels, mode=mode, n_train=len(train), n_val=len(val),
        n_instances=n_instances, val_ids=[r.sample_id for r in val], classes_added=added,
        base=dict(arch=model.arch, meta=dict(model.meta)), epochs=epochs, batch_size=batch_size,
        lr=base_lr, weight_decay=weight_decay, metric=metric_key, seed=seed, augment=augment,
        freeze_backbone=freeze_backbone, max_iters=max_iters, device=device,
        started=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    history: list[dict[str, Any]] = []
    best, best_epoch, since_best, it = None, 0, 0, 0
    bar = tqdm(total=total, disable=not progress, desc=f"fine-tune on {len(train)} image(s)", unit="step")
    t_start = time.perf_counter()
    skipped: dict[str, str] = {}
    interrupted = False
    try:
        for epoch in range(1, epochs + 1):
            t_epoch = time.perf_counter()
            module.train()
            _freeze_bn(module)
            sums: dict[str, float] = {}
            n_steps = 0
            perm = rng.permutation(len(train))
            for s in range(steps_per_epoch):
                if it >= total:
                    break
                batch_x, batch_t = [], []
                for k in perm[s * batch_size : (s + 1) * batch_size]:
                    rec = train[k]
                    try:
                        im = images(rec.filepath)
                    except ImageReadError as exc:
                        skipped[rec.filepath] = exc.reason
                        continue
                    m, lab = _instances(rec, label_index, *im.shape[:2])
                    x, t = _example(im, m, lab, rng, augment, device)
                    batch_x.append(x)
                    batch_t.append(t)
                if not batch_x:
                    continue
                for g in optimizer.param_groups:
                    g["lr"] = base_lr * _lr_factor(it, total, warmup)
                losses = module(batch_x, batch_t)
                loss = sum(losses.values())
                if not torch.isfinite(loss):
                    raise LabelkitError(
                        f"the training loss became {float(loss)} at step {it + 1} (lr={base_lr:g}); "
                        "try a lower lr (e.g. lr=3e-5) or freeze_backbone=True"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 10.0)
                optimizer.step()
                it += 1
                n_steps += 1
                for key, v in list(losses.items()) + [("train_loss", loss)]:
                    sums[key] = sums.get(key, 0.0) + float(v.detach())
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{float(loss.detach()):.3f}", refresh=False)
            if n_steps == 0:
                break
            row: dict[str, Any] = dict(epoch=epoch, iterations=it, lr=optimizer.param_groups[0]["lr"])
            row.update({k: v / n_steps for k, v in sums.items()})
            if val:
                if metric == "map50":
                    ap = _val_outputs(module, val, images, label_index, new_names, device)
                    row.update(val_map50=ap["ap50"], val_ap=ap["ap"])
                else:
                    row["val_loss"] = _val_loss(module, val, images, label_index, device)
            value = row[metric_key]
            better = best is None or (value > best + 1e-6 if higher else value < best - 1e-6)
            row.update(seconds=round(time.perf_counter() - t_epoch, 2), best=bool(better))
            history.append(row)
            logger.info(
                "labelkit: fine-tune epoch %d: %d steps, train_loss %.4f, %s %.4f%s (%.1f s)",
                epoch, it, row["train_loss"], metric_key, value, " (best)" if better else "", row["seconds"],
            )
            shown = {k: round(v, 4) for k, v in row.items() if k in ("train_loss", metric_key)}
            bar.set_postfix(epoch=epoch, **shown, refresh=True)
            if better:
                best, best_epoch, since_best = value, epoch, 0
                info.update(history=history, best_epoch=best_epoch, best_metric=best,
                            train_seconds=round(time.perf_counter() - t_start, 1))
                save_checkpoint(module, path, meta={**model.meta, "finetune": info},
                                classes=ckpt_classes, arch=model.arch, arch_kwargs=model.arch_kwargs)
            else:
                since_best += 1
                if since_best >= patience:
                    logger.info("labelkit: early stop after epoch %d (best: epoch %d)", epoch, best_epoch)
                    break
            if it >= total:
                break
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn("fine-tuning interrupted; returning the best epoch so far", stacklevel=2)
    finally:
        bar.close()
    if best_epoch == 0:
        raise LabelkitError("fine-tuning stopped before an epoch finished; nothing was saved")
    # record the full history in the checkpoint (best weights unchanged)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt["meta"]["finetune"].update(
        history=history, epochs_run=len(history), stopped_early=len(history) < epochs and it < total,
        interrupted=interrupted, skipped_images=skipped,
        train_seconds=round(time.perf_counter() - t_start, 1),
    )
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)
    result = load(path, device=device, classes=out_classes, min_confidence=model.min_confidence,
                  mask_threshold=model.mask_threshold)
    result.history = history
    result.checkpoint_path = path
    if skipped:
        logger.warning("labelkit: %d image(s) could not be read and were skipped", len(skipped))
    return result
