"""torchvision detectors as proposers: COCO Mask R-CNN, labelkit checkpoints, any
torchvision-style module.

labelkit checkpoint format (a ``torch.save``'d dict, loadable with
``torch.load(..., weights_only=True)``)::

    {
        "format": "labelkit.maskrcnn/1",
        "arch": "compact" | "maskrcnn_resnet50_fpn_v2",
        "arch_kwargs": {...},        # passed to the architecture builder
        "classes": ["a", "b", ...],  # no background; model label i+1 == classes[i]
        "state_dict": {...},         # tensors (fp16 allowed; cast on load)
        "meta": {...},               # free-form: training data, metrics, date...
    }
"""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError, WeightsNotAvailableError
from ..io.sample import sample_data_dir
from .base import PLACEHOLDER_CLASSES, Proposer, resolve_device

CHECKPOINT_FORMAT = "labelkit.maskrcnn/1"
ARCHS = ("compact", "maskrcnn_resnet50_fpn_v2")

#: Environment variables that mean "never try to download" (any of them set to
#: 1/true/yes).
OFFLINE_ENV = ("LABELKIT_OFFLINE", "HF_HUB_OFFLINE")


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def is_offline() -> bool:
    """True when ``LABELKIT_OFFLINE`` or ``HF_HUB_OFFLINE`` is set: labelkit then
    never attempts a download and fails at once if weights are not cached."""
    return any(_truthy(os.environ.get(name)) for name in OFFLINE_ENV)


# ------------------------------------------------------------------- proposer


class TorchvisionProposer(Proposer):
    """A torchvision-style detector (``module(list_of_CHW_float_tensors)`` in eval
    mode returns a list of dicts with ``boxes``, ``labels``, ``scores`` and
    optionally ``masks`` ``(N, 1, H, W)`` probabilities) as a proposer.

    The module is put in eval mode on ``device``. Input images are converted to
    float ``[0, 1]`` ``(3, H, W)`` tensors on the device (the model's own
    transform normalises and resizes). If the module has ``roi_heads.score_thresh``
    it is set to the confidence floor for each call, so low-scoring boxes never
    reach the mask head.

    Args:
        module: the detector.
        label_names: model label index -> class name (index 0 is usually
            background); placeholder names (``__background__``, ``N/A``) and
            indices beyond the list are never output.
        classes: restrict the output to these names (default: all real classes).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        min_confidence: drop detections below this score.
        mask_threshold: mask probability threshold.
        batch_size: default batch size for :func:`labelkit.propose` (default 1 on
            CPU, where batching does not speed detectors up; on CUDA the default
            is chosen for the free GPU memory when proposing starts, see
            :meth:`choose_batch_size`, and 4 until then).
        arch, arch_kwargs: how to rebuild the module (recorded by
            :func:`save_checkpoint`).
        meta: free-form metadata (from a checkpoint).
    """

    def __init__(
        self,
        module,
        label_names: Sequence[str | None],
        classes: Sequence[str] | None = None,
        device: str = "auto",
        min_confidence: float = 0.05,
        mask_threshold: float = 0.5,
        batch_size: int | None = None,
        arch: str | None = None,
        arch_kwargs: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ):
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        self.label_names = [None if n in PLACEHOLDER_CLASSES else n for n in label_names]
        self.all_classes = [n for n in self.label_names if n is not None]
        if classes is None:
            self.classes = list(self.all_classes)
        else:
            if isinstance(classes, str):
                classes = [classes]
            unknown = [c for c in classes if c not in self.all_classes]
            if unknown:
                hints = {c: difflib.get_close_matches(c, self.all_classes, n=1) for c in unknown}
                hint = "; ".join(f"{c!r}: did you mean {h[0]!r}?" for c, h in hints.items() if h)
                raise ModelError(
                    f"classes {unknown} are not classes of this model "
                    f"({len(self.all_classes)} classes: {', '.join(self.all_classes[:12])}"
                    f"{', ...' if len(self.all_classes) > 12 else ''})" + (f"; {hint}" if hint else "")
                )
            self.classes = list(dict.fromkeys(classes))
        self._keep = {
            i: n for i, n in enumerate(self.label_names) if n is not None and n in set(self.classes)
        }
        self.min_confidence = float(min_confidence)
        self.mask_threshold = float(mask_threshold)
        self.batch_size = int(batch_size or (4 if self.device.startswith("cuda") else 1))
        #: choose the batch size from the GPU memory (CUDA, no explicit batch_size)
        self.auto_batch = batch_size is None and self.device.startswith("cuda")
        self._max_batch: int | None = None  # chunk size that fit on the GPU (halved on OOM)
        self.probe: dict = {}  # what choose_batch_size measured (bytes per image, available, size)
        self.arch = arch
        self.arch_kwargs = dict(arch_kwargs or {})
        self.meta = dict(meta or {})
        self.has_masks = hasattr(getattr(module, "roi_heads", None), "mask_predictor") and (
            module.roi_heads.mask_predictor is not None
        )

    def _label_name(self, label) -> str | None:
        if isinstance(label, str):
            return label if label in self.classes else None
        return self._keep.get(int(label))

    def spec(self) -> tuple | None:
        """How to rebuild this proposer in another process (see :mod:`labelkit.models.spec`):
        ``("sample", options)``, ``("maskrcnn", weights, options)`` or
        ``("checkpoint", path, options)``; None when it was not loaded from a file
        or the cache, or its weights changed since (then it must be pickled)."""
        from ._source import torchvision_spec

        return torchvision_spec(self)

    def inference_context(self):
        import torch

        return torch.inference_mode()

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    def to_tensors(self, images) -> list:
        """``(H, W, 3)`` uint8 arrays -> ``(3, H, W)`` float ``[0, 1]`` tensors on the device
        (the uint8 data is copied to the device first, then converted there)."""
        import torch

        out = []
        with warnings.catch_warnings():
            # read_image's arrays are read-only; the tensor is only read (.float() copies)
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            for im in images:
                t = torch.from_numpy(im).to(self.device, non_blocking=True)
                out.append(t.permute(2, 0, 1).float().div_(255.0))
        return out

    def predict_raw(self, images, min_confidence=None) -> list:
        """Run the module; returns its list of dicts (tensors on the device):
        ``boxes`` ``(N, 4)`` float absolute ``x1y1x2y2``, ``labels`` ``(N,)`` int64
        model label, ``scores`` ``(N,)`` float, ``masks`` ``(N, 1, H, W)`` float
        probabilities (mask models only).

        On CUDA the batch runs in chunks of at most the size that fitted so far
        (:meth:`choose_batch_size`), halved and retried when the GPU runs out of
        memory (:func:`labelkit.models.batching.forward_in_chunks`)."""
        floor = max(self.min_confidence, min_confidence or 0.0)
        roi = getattr(self.module, "roi_heads", None)
        ctx = _temporarily(roi, "score_thresh", floor) if hasattr(roi, "score_thresh") else contextlib.nullcontext()
        with ctx:
            if not self.device.startswith("cuda"):
                return list(self.module(self.to_tensors(images)))
            import torch

            from .batching import forward_in_chunks

            images = list(images)
            out, self._max_batch = forward_in_chunks(
                lambda chunk: self.module(self.to_tensors(chunk)), images,
                min(self._max_batch or len(images), len(images)) or 1, on_oom=torch.cuda.empty_cache,
                describe=lambda im: f"an image of {im.shape[1]}x{im.shape[0]}",
            )
        return out

    def choose_batch_size(self, image, min_confidence: float | None = None, margin: float | None = None,
                          cap: int | None = None) -> int:
        """Set :attr:`batch_size` for the free GPU memory, from one probe forward pass on ``image``.

        Measures the memory one image needs (:func:`~labelkit.models.batching.probe_image_bytes`:
        ``torch.cuda.max_memory_allocated`` around one pass at ``min_confidence``,
        so as many masks are pasted as when proposing) and divides the available
        memory by it, keeping ``margin`` of it free and at most ``cap``
        (:func:`~labelkit.models.batching.batch_size_for_memory`). On CPU it
        changes nothing and returns :attr:`batch_size`.

        Args:
            image: an ``(H, W, 3)`` uint8 image like those to propose for (the first one).
            min_confidence: the confidence floor proposing will use.
            margin: share of the free memory kept free (default
                :data:`~labelkit.models.batching.DEFAULT_MARGIN`, 0.25).
            cap: the largest batch size (default :data:`~labelkit.models.batching.DEFAULT_CAP`, 32).

        Returns:
            the batch size now in :attr:`batch_size`.
        """
        from . import batching

        if not self.device.startswith("cuda"):
            return self.batch_size
        self._max_batch = 1

        def forward():
            with self.inference_context():
                return self.predict_raw([image], min_confidence)

        per_image, available = batching.probe_image_bytes(forward, self.device)
        n = batching.batch_size_for_memory(
            available, per_image, batching.DEFAULT_MARGIN if margin is None else margin,
            batching.DEFAULT_CAP if cap is None else cap,
        )
        self.batch_size = self._max_batch = n
        self.auto_batch = False
        self.probe = {"per_image_bytes": per_image, "available_bytes": available, "batch_size": n,
                      "image_size": tuple(int(v) for v in image.shape[:2])}
        return n


@contextlib.contextmanager
def _temporarily(obj, name: str, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def from_torchvision(
    module,
    classes: Sequence[str] | Mapping[int, str],
    device: str = "auto",
    min_confidence: float = 0.05,
    mask_threshold: float = 0.5,
    label_offset: int | None = None,
    batch_size: int | None = None,
) -> TorchvisionProposer:
    """Wrap any torchvision-style detector (Mask R-CNN, Faster R-CNN, RetinaNet,
    FCOS, SSD, your own ``GeneralizedRCNN``...) as a proposer.

    Box-only detectors give detections without masks (``mask`` None).

    Args:
        module: the detector; in eval mode, ``module(list of (3, H, W) float
            tensors in [0, 1])`` returns a list of dicts with ``boxes`` (absolute
            ``x1y1x2y2``), ``labels``, ``scores`` and optionally ``masks``.
        classes: names of the model labels: a list without background (model
            label ``i + 1`` is ``classes[i]``, torchvision's convention for models
            built with ``num_classes = len(classes) + 1``); a list that starts with
            ``"__background__"`` / ``"background"`` (like
            ``weights.meta["categories"]``; label ``i`` is ``classes[i]``); or a dict
            ``{label: name}``.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``...
        min_confidence: drop detections below this score.
        mask_threshold: mask probability threshold.
        label_offset: override the label -> index rule for lists (0 or 1).
        batch_size: default batch size for :func:`labelkit.propose`.

    Example:
        >>> import torchvision, labelkit.models as lkm
        >>> det = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        ...     weights=None, weights_backbone=None, num_classes=3)
        >>> model = lkm.from_torchvision(det, classes=["cat", "dog"], device="cpu")
        >>> model.classes
        ['cat', 'dog']
    """
    if isinstance(classes, Mapping):
        n = max(int(k) for k in classes) + 1 if classes else 0
        label_names: list[str | None] = [None] * n
        for k, v in classes.items():
            label_names[int(k)] = str(v)
    else:
        classes = [str(c) for c in classes]
        if label_offset is None:
            label_offset = 0 if classes and classes[0] in PLACEHOLDER_CLASSES else 1
        label_names = [None] * label_offset + list(classes)
    return TorchvisionProposer(
        module,
        label_names,
        device=device,
        min_confidence=min_confidence,
        mask_threshold=mask_threshold,
        batch_size=batch_size,
    )


# -------------------------------------------------------------- COCO weights


def _weights_message(url: str, cache_file: Path, reason: str) -> str:
    return (
        f"Mask R-CNN COCO weights are not available: {reason}.\n"
        f"  needed file: {cache_file}\n"
        f"  download it from: {url}\n"
        "Copy that file to the path above (on a machine with internet: "
        "python -c \"import labelkit.models as m; m.maskrcnn()\"; set TORCH_HOME to move the "
        "cache), or pass a local file: "
        f"lk.models.maskrcnn(weights=\"/path/to/{cache_file.name}\"). "
        "lk.models.sample() works offline."
    )


def cache_file_for(weights) -> Path:
    """Where torch keeps the downloaded file of a torchvision weights enum:
    ``torch.hub.get_dir()/checkpoints/<file name of the URL>``."""
    from urllib.parse import urlparse

    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    import socket

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def fetch_state_dict(weights, progress: bool = True) -> dict:
    """The state dict of a torchvision weights enum, from the torch cache or downloaded.

    The cache (:func:`cache_file_for`) is checked first; only when the file is
    absent is a download attempted, with a socket timeout of
    ``$LABELKIT_DOWNLOAD_TIMEOUT`` seconds (default 30) so a dead network fails
    instead of hanging. With ``LABELKIT_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) no
    download is attempted at all.

    Raises:
        WeightsNotAvailableError: not cached and not downloadable; the message
            names the URL, the cache file and the ``weights=`` path alternative.
        ModelError: the cached file is corrupt.
    """
    import http.client

    import torch

    url = weights.url
    cache_file = cache_file_for(weights)
    if cache_file.is_file():
        try:
            return torch.load(cache_file, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
            raise ModelError(
                f"the cached weights file '{cache_file}' cannot be read ({type(exc).__name__}: "
                f"{str(exc)[:200]}); delete it and run again to download it afresh"
            ) from None
    if is_offline():
        env = next(n for n in OFFLINE_ENV if _truthy(os.environ.get(n)))
        raise WeightsNotAvailableError(
            _weights_message(url, cache_file, f"not in the torch cache and {env} is set (no download)")
        )
    timeout = float(os.environ.get("LABELKIT_DOWNLOAD_TIMEOUT", "30"))
    try:
        with _socket_timeout(timeout):
            return torch.hub.load_state_dict_from_url(
                url, progress=progress, map_location="cpu", weights_only=True
            )
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsNotAvailableError(
            _weights_message(url, cache_file, f"not in the torch cache and the download failed ({reason})")
        ) from None


def _torch_load(path: Path) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(
            f"'{path}' holds Python objects besides tensors, which labelkit does not unpickle "
            f"(weights_only=True; {str(exc).splitlines()[0][:160]}). If you trust the file, load it "
            "yourself with torch.load(path, weights_only=False) and pass the state dict: "
            "lk.models.maskrcnn(weights=ckpt['model'])"
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise ModelError(
            f"'{path}' is not a readable torch checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def _is_labelkit_checkpoint(obj) -> bool:
    return isinstance(obj, Mapping) and str(obj.get("format", "")).startswith("labelkit.maskrcnn/")


def _extract_state_dict(obj, source: str) -> dict:
    """A plain state dict, or a torchvision-reference checkpoint ``{"model": ...}``."""
    if not isinstance(obj, Mapping):
        raise ModelError(f"{source} holds a {type(obj).__name__}, not a state dict")
    for key in ("model", "state_dict", "model_state_dict"):
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not obj or not all(hasattr(v, "shape") for v in obj.values()):
        raise ModelError(
            f"{source} is not a state dict (expected tensors keyed by parameter name, "
            f"got keys {list(obj)[:5]})"
        )
    prefix = "module."
    if all(k.startswith(prefix) for k in obj):  # saved from DistributedDataParallel
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    return dict(obj)


def _load_state(module, state_dict: Mapping, source: str) -> None:
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ModelError(
            f"the weights in {source} do not fit the architecture: {' '.join(lines[1:3])[:400]}"
        ) from None


def maskrcnn(
    weights: Any = "DEFAULT",
    device: str = "auto",
    classes: Sequence[str] | None = None,
    min_confidence: float = 0.05,
    mask_threshold: float = 0.5,
    progress: bool = True,
    **kwargs: Any,
) -> TorchvisionProposer:
    """torchvision's Mask R-CNN (ResNet-50 FPN v2) as a proposer, COCO weights by default.

    Args:
        weights: ``"DEFAULT"`` / ``"COCO_V1"`` / a
            ``torchvision.models.detection.MaskRCNN_ResNet50_FPN_V2_Weights``: the
            COCO weights (80 classes), downloaded into the torch cache
            (``torch.hub.get_dir()/checkpoints``) on first use. A path to a local
            file: a plain torchvision state dict, a torchvision-reference
            checkpoint ``{"model": state_dict, ...}`` (both with COCO's 91 outputs)
            or a labelkit checkpoint (any architecture and classes; see
            :func:`load`). A state dict (a mapping) directly. ``None``: random
            weights with COCO's classes (for tests).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``...
        classes: only output these class names (e.g. ``["person", "dog"]``).
        min_confidence: drop detections below this score.
        mask_threshold: mask probability threshold.
        progress: show the download progress bar.
        **kwargs: passed to ``maskrcnn_resnet50_fpn_v2`` (e.g. ``min_size=512``
            to run faster on small images, ``box_detections_per_img=50``).

    Raises:
        WeightsNotAvailableError: the COCO weights are not cached and cannot be
            downloaded (offline); the message names the file and where it goes.
        ModelError: a local file is not a usable checkpoint.

    Example:
        >>> import labelkit.models as lkm
        >>> model = lkm.maskrcnn()  # doctest: +SKIP
        >>> model = lkm.maskrcnn(weights="maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth")  # doctest: +SKIP
    """
    from torchvision.models import detection as tvd

    enum_cls = tvd.MaskRCNN_ResNet50_FPN_V2_Weights
    coco_categories = list(enum_cls.DEFAULT.meta["categories"])
    source = "the weights"
    spec_arg = None  # what labelkit.models.spec rebuilds it from (a weights name or file)
    if weights is None:
        state = None
    elif isinstance(weights, enum_cls) or (
        isinstance(weights, str) and weights.replace(enum_cls.__name__ + ".", "") in enum_cls.__members__
    ):
        enum = enum_cls.verify(weights)
        state = fetch_state_dict(enum, progress=progress)
        coco_categories = list(enum.meta["categories"])
        source = f"{enum} ({cache_file_for(enum)})"
        spec_arg = str(enum)
    elif isinstance(weights, Mapping):
        if _is_labelkit_checkpoint(weights):
            return load(weights, device=device, classes=classes, min_confidence=min_confidence,
                        mask_threshold=mask_threshold)
        state = _extract_state_dict(weights, "the weights dict")
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(
                f"weights file '{path}' does not exist; pass a checkpoint file, or "
                f"weights='DEFAULT' for the COCO weights (one of {list(enum_cls.__members__)})"
            )
        obj = _torch_load(path)
        if _is_labelkit_checkpoint(obj):
            from ._source import remember_source

            proposer = load(obj, device=device, classes=classes, min_confidence=min_confidence,
                            mask_threshold=mask_threshold, source=str(path))
            remember_source(proposer, "checkpoint", str(path.resolve()), device)
            return proposer
        state = _extract_state_dict(obj, f"'{path}'")
        source = f"'{path}'"
        spec_arg = str(path.resolve())
    else:
        raise ModelError(
            f"weights must be 'DEFAULT', a {enum_cls.__name__}, a file path or a state dict, "
            f"got {type(weights).__name__}"
        )
    num_classes = len(coco_categories)
    if state is not None:
        cls_w = state.get("roi_heads.box_predictor.cls_score.weight")
        if cls_w is not None and cls_w.shape[0] != num_classes:
            raise ModelError(
                f"{source} has {cls_w.shape[0]} outputs, not COCO's {num_classes}: it was trained on "
                "other classes. Save it as a labelkit checkpoint with class names "
                "(lk.models.save_checkpoint) and load that, or build the model yourself and use "
                "lk.models.from_torchvision(model, classes=[...])"
            )
    module = tvd.maskrcnn_resnet50_fpn_v2(
        weights=None, weights_backbone=None, num_classes=num_classes, **kwargs
    )
    if state is not None:
        _load_state(module, state, source)
    proposer = TorchvisionProposer(
        module,
        coco_categories,
        classes=classes,
        device=device,
        min_confidence=min_confidence,
        mask_threshold=mask_threshold,
        arch="maskrcnn_resnet50_fpn_v2",
        arch_kwargs=kwargs,
        meta={"weights": str(weights) if not isinstance(weights, Mapping) else "state dict"},
    )
    if spec_arg is not None:  # rebuildable from the weights name or file
        from ._source import remember_source

        remember_source(proposer, "maskrcnn", spec_arg, device, kwargs=dict(kwargs))
    return proposer


# -------------------------------------------------------- labelkit checkpoints


def build_arch(arch: str, num_classes: int, arch_kwargs: Mapping[str, Any] | None = None):
    """Build an untrained module of a labelkit architecture (``num_classes`` includes background)."""
    arch_kwargs = dict(arch_kwargs or {})
    if arch == "compact":
        try:
            from .compact import build_compact_maskrcnn
        except ImportError as exc:
            raise ModelError(f"architecture 'compact' needs labelkit.models.compact ({exc})") from None
        return build_compact_maskrcnn(num_classes, **arch_kwargs)
    if arch == "maskrcnn_resnet50_fpn_v2":
        from torchvision.models import detection as tvd

        return tvd.maskrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=None, num_classes=num_classes, **arch_kwargs
        )
    raise ModelError(f"unknown architecture {arch!r}; labelkit knows {list(ARCHS)}")


def load(
    path: str | os.PathLike | Mapping,
    device: str = "auto",
    classes: Sequence[str] | None = None,
    min_confidence: float = 0.05,
    mask_threshold: float = 0.5,
    source: str | None = None,
) -> TorchvisionProposer:
    """Load a labelkit checkpoint (see the module docstring for the format).

    Args:
        path: the ``.pt`` file (or the already-loaded dict).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        classes: only output these class names.
        min_confidence: drop detections below this score.
        mask_threshold: mask probability threshold.
        source: how to name the checkpoint in errors (default: the path).

    Raises:
        ModelError: not a labelkit checkpoint, unknown format version or
            architecture, or weights that do not fit.
    """
    if isinstance(path, Mapping):
        ckpt, source = path, source or "the checkpoint dict"
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ModelError(f"checkpoint '{p}' does not exist")
        ckpt, source = _torch_load(p), source or f"'{p}'"
    if not _is_labelkit_checkpoint(ckpt):
        keys = list(ckpt)[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise ModelError(
            f"{source} is not a labelkit checkpoint (no format '{CHECKPOINT_FORMAT}'; found {keys}); "
            "for torchvision COCO state dicts use lk.models.maskrcnn(weights=path)"
        )
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise ModelError(
            f"{source} has format {ckpt['format']!r}; this labelkit reads {CHECKPOINT_FORMAT!r} "
            "(upgrade labelkit)"
        )
    missing = [k for k in ("arch", "classes", "state_dict") if k not in ckpt]
    if missing:
        raise ModelError(f"{source} lacks {missing}")
    names = [str(c) for c in ckpt["classes"]]
    arch_kwargs = dict(ckpt.get("arch_kwargs") or {})
    module = build_arch(ckpt["arch"], len(names) + 1, arch_kwargs)
    state = ckpt["state_dict"]
    if ckpt["arch"] == "compact":
        from .compact import load_checkpoint_state

        try:
            load_checkpoint_state(module, state)
        except RuntimeError as exc:
            raise ModelError(f"the weights in {source} do not fit: {str(exc)[:400]}") from None
    else:
        _load_state(module, state, source)
    proposer = TorchvisionProposer(
        module,
        [None] + names,
        classes=classes,
        device=device,
        min_confidence=min_confidence,
        mask_threshold=mask_threshold,
        arch=ckpt["arch"],
        arch_kwargs=arch_kwargs,
        meta=ckpt.get("meta") or {},
    )
    if not isinstance(path, Mapping):  # rebuildable from the file
        from ._source import remember_source

        remember_source(proposer, "checkpoint", str(Path(path).expanduser().resolve()), device)
    return proposer


def save_checkpoint(
    model,
    path: str | os.PathLike,
    meta: Mapping[str, Any] | None = None,
    *,
    classes: Sequence[str] | None = None,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    half: bool = False,
    root: str | os.PathLike | None = None,
) -> Path:
    """Save a proposer (or a bare torchvision module) as a labelkit checkpoint.

    Args:
        model: a :class:`TorchvisionProposer` (classes and architecture are taken
            from it; all of the model's classes are saved, even if the proposer
            restricts its output) or an ``nn.Module`` (then ``classes`` and ``arch``
            are required).
        path: the file to write (written to a temporary file, then renamed). Its
            folder must exist (it is not created: a mistyped folder fails here, not
            silently elsewhere), and the path must not be a folder.
        meta: free-form metadata (JSON-like values only: str, numbers, lists, dicts).
        classes: class names without background (model label ``i + 1`` is
            ``classes[i]``).
        arch: ``"compact"`` or ``"maskrcnn_resnet50_fpn_v2"``.
        arch_kwargs: builder arguments to record.
        half: store floating-point tensors as float16 (half the size; cast back on load).
        root: a checkpoint folder; ``path`` is then relative to it and must stay
            inside it (``../x.pt``, absolute paths and symlinks out are refused).

    Returns:
        the path written.

    Raises:
        OutputPathError: the folder of ``path`` is missing or not writable, or
            ``path`` is a folder (checked before anything is written).
        UnsafePathError: with ``root``, ``path`` would leave it.
        ModelError: ``model`` is not something that can be saved.
    """
    import torch

    from ..io.paths import check_output_path

    path = check_output_path(path, what="checkpoint", kind="file", root=root)

    if isinstance(model, TorchvisionProposer):
        module = model.module
        names = list(classes) if classes is not None else _names_without_background(model.label_names)
        arch = arch or model.arch
        arch_kwargs = dict(arch_kwargs if arch_kwargs is not None else model.arch_kwargs)
        meta = {**model.meta, **dict(meta or {})}
    elif isinstance(model, torch.nn.Module):
        module = model
        if classes is None or arch is None:
            raise ModelError("saving a bare module needs classes=[...] and arch=... ('compact' or "
                             "'maskrcnn_resnet50_fpn_v2')")
        names = list(classes)
        arch_kwargs = dict(arch_kwargs or {})
        meta = dict(meta or {})
    else:
        raise ModelError(f"save_checkpoint needs a TorchvisionProposer or an nn.Module, got {type(model).__name__}")
    if arch not in ARCHS:
        raise ModelError(f"arch must be one of {list(ARCHS)}, got {arch!r}")
    state = {}
    for k, v in module.state_dict().items():
        v = v.detach().to("cpu")
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v.clone()
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "classes": [str(c) for c in names],
        "state_dict": state,
        "meta": meta,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def _names_without_background(label_names: Sequence[str | None]) -> list[str]:
    """Model label -> name list (index 0 background) -> ``classes`` for a checkpoint;
    placeholder labels (COCO's unused ids) are stored as ``"N/A"`` and skipped on load."""
    return ["N/A" if n is None else str(n) for n in label_names[1:]]


def sample(device: str = "auto", min_confidence: float = 0.05, mask_threshold: float = 0.5) -> TorchvisionProposer:
    """The small Mask R-CNN shipped in ``sample_data/models/sample_maskrcnn.pt``
    (trained on labelkit's synthetic sample data; works offline).

    The folder is :func:`sample_data_dir` (``$LABELKIT_SAMPLE_DATA`` overrides).

    Raises:
        WeightsNotAvailableError: the file is missing.
    """
    path = sample_data_dir() / "models" / "sample_maskrcnn.pt"
    if not path.is_file():
        raise WeightsNotAvailableError(
            f"the sample model '{path}' is missing. It is built by the sample-data training "
            "script in the labelkit source tree (sample_data/); set LABELKIT_SAMPLE_DATA to the "
            "folder holding models/sample_maskrcnn.pt if it lives elsewhere"
        )
    model = load(path, device=device, min_confidence=min_confidence, mask_threshold=mask_threshold)
    from ._source import remember_source

    remember_source(model, "sample", None, device)
    return model
