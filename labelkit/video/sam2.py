"""SAM 2 video propagation of keyframe masks (``lk.interpolate(..., method="sam2")``).

The SAM 2 video model (Hugging Face ``transformers``: ``Sam2VideoModel`` +
``Sam2VideoProcessor``) tracks objects through a video from masks (or boxes) on
some frames, using a memory of the frames it has seen. labelkit uses it to fill
the frames between two keyframes of a track:

* one inference session per *gap* (keyframe ``fa`` -> keyframe ``fb``), over the
  decoded frames ``fa .. fb`` only, with every track that has keyframes on both
  ``fa`` and ``fb`` in it (object ids = the tracks' positions in the gap);
* both ends condition the session: each track's keyframe mask on ``fa`` *and* on
  ``fb`` (a keyframe without a mask conditions with its box);
* the model propagates forward from ``fa`` to the middle of the gap and backward
  from ``fb`` to the frame after the middle, so each frame takes its mask from the
  nearer keyframe (the first half from ``fa``, ties included; as the ``"sdf"`` and
  ``"copy"`` methods pick the label of the nearer keyframe). Every frame of the
  gap is run through the model once.

Conventions: frames are ``(H, W, 3)`` uint8 RGB (as decoded by
:func:`labelkit.media.video.iter_frames`); masks are ``(H, W)`` bool at the
frame's full resolution; boxes are absolute ``[x1, y1, x2, y2]`` pixels; frame
numbers are 1-based (FiftyOne's), frame *indices* inside a session 0-based.

Loading follows :func:`labelkit.models.sam`'s offline rules (a hub id is looked up
in the Hugging Face cache, downloaded once when missing, never when
``LABELKIT_OFFLINE`` / ``HF_HUB_OFFLINE`` is set; a local folder saved with
``save_pretrained()`` is read as it is), and loaded models are cached per process.

Example:
    >>> from labelkit import video as lkv
    >>> prop = lkv.sam2_video("facebook/sam2.1-hiera-tiny")               # doctest: +SKIP
    >>> masks = prop.propagate(frames, first={0: mask_a}, last={0: mask_b})  # doctest: +SKIP
    >>> sorted(masks[0]) == list(range(1, len(frames) - 1))                # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LabelkitError, ModelError

#: The SAM 2 video checkpoint ``method="sam2"`` uses unless told otherwise.
DEFAULT_VIDEO_MODEL = "facebook/sam2.1-hiera-tiny"

_LOADED: dict[tuple[str, str], Sam2VideoPropagator] = {}
_LOADED_LOCK = threading.Lock()


class Sam2VideoPropagator:
    """The SAM 2 video model behind one call: frames + keyframe prompts at both ends
    in, the masks of the frames between out.

    Build one with :func:`sam2_video` (hub id or local folder, cached per process),
    or from a model and processor you already have::

        Sam2VideoPropagator(Sam2VideoModel(config), Sam2VideoProcessor(...), device="cpu")

    Args:
        model: a ``transformers`` ``Sam2VideoModel`` (``config.model_type == "sam2_video"``).
        processor: the matching ``Sam2VideoProcessor`` (image + video processor).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        name: the hub id or folder (shown in messages).

    Raises:
        ModelError: ``model`` is not a SAM 2 video model or ``processor`` cannot open
            a video session.
    """

    def __init__(self, model, processor, device: str = "auto", name: str | None = None):
        from ..models.base import resolve_device

        model_type = getattr(getattr(model, "config", None), "model_type", None)
        if model_type != "sam2_video" or not hasattr(model, "propagate_in_video_iterator"):
            raise ModelError(
                f"{type(model).__name__} (model_type {model_type!r}) is not a SAM 2 video model; "
                f"method='sam2' needs a transformers Sam2VideoModel (model_type 'sam2_video'), "
                f"e.g. {DEFAULT_VIDEO_MODEL!r}"
            )
        if not (hasattr(processor, "init_video_session") and hasattr(processor, "add_inputs_to_inference_session")):
            raise ModelError(
                f"{type(processor).__name__} cannot open a video session; "
                "pass the model's Sam2VideoProcessor"
            )
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.name = name or f"sam2_video:{type(model).__name__}"
        self.sessions = 0  # inference sessions run (tests, benchmarks)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, device={self.device!r})"

    @staticmethod
    def _check(frames: Sequence[np.ndarray], first: Mapping, last: Mapping) -> tuple[int, int]:
        if len(frames) < 2:
            raise LabelkitError(f"propagation needs the two keyframes and the frames between, got {len(frames)} frame(s)")
        shape = np.asarray(frames[0]).shape
        for f in frames:
            f = np.asarray(f)
            if f.shape != shape or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                raise LabelkitError(
                    f"frames must all be (H, W, 3) uint8 RGB of one size, got {f.shape} {f.dtype} after {shape}"
                )
        if set(first) != set(last) or not first:
            raise LabelkitError(
                f"every object needs a prompt on both keyframes: first {sorted(first)}, last {sorted(last)}"
            )
        return int(shape[0]), int(shape[1])

    def _add_prompts(self, session, frame_idx: int, ids: Sequence[int], prompts: Mapping, height: int, width: int):
        """Condition ``session`` on ``prompts`` (obj id -> mask | box) at ``frame_idx`` and run that frame."""
        masks = [(i, np.ascontiguousarray(p, dtype=bool)) for i, p in ((i, prompts[i]) for i in ids) if np.ndim(p) == 2]
        boxes = [(i, np.asarray(p, np.float64).reshape(4)) for i, p in ((i, prompts[i]) for i in ids) if np.ndim(p) != 2]
        for i, m in masks:
            if m.shape != (height, width):
                raise LabelkitError(f"object {i}: prompt mask {m.shape} does not match the {width}x{height} frames")
        if masks:
            self.processor.add_inputs_to_inference_session(
                session, frame_idx=frame_idx, obj_ids=[i for i, _ in masks], input_masks=[m for _, m in masks]
            )
        if boxes:
            self.processor.add_inputs_to_inference_session(
                session, frame_idx=frame_idx, obj_ids=[i for i, _ in boxes],
                input_boxes=[[b.tolist() for _, b in boxes]], original_size=(height, width),
            )
        # each add_inputs call names only its own objects as new: the frame has all of them
        session.obj_with_new_inputs = list(ids)
        self.model(session, frame_idx=frame_idx)

    def _masks(self, out, height: int, width: int) -> dict[int, np.ndarray]:
        full = self.processor.post_process_masks([out.pred_masks], original_sizes=[[height, width]], binarize=True)[0]
        full = np.asarray(full.cpu().numpy() if hasattr(full, "cpu") else full).astype(bool)
        full = full.reshape(len(out.object_ids), height, width)
        return {int(obj): full[k] for k, obj in enumerate(out.object_ids)}

    def propagate(
        self,
        frames: Sequence[np.ndarray],
        first: Mapping[int, np.ndarray],
        last: Mapping[int, np.ndarray],
    ) -> dict[int, dict[int, np.ndarray]]:
        """Masks of the frames strictly between two keyframes.

        Args:
            frames: ``T >= 2`` frames ``(H, W, 3)`` uint8 RGB: the first keyframe, the
                frames between, the last keyframe.
            first: object id (int) -> prompt on ``frames[0]``: an ``(H, W)`` bool mask,
                or an absolute ``[x1, y1, x2, y2]`` box.
            last: the same object ids -> prompt on ``frames[-1]``.

        Returns:
            object id -> ``{t: (H, W) bool mask}`` for ``t = 1 .. T-2`` (indices into
            ``frames``); frames ``t <= (T-1)//2`` are propagated forward from
            ``frames[0]``, the others backward from ``frames[-1]``. A mask is all
            False where the model finds the object absent (hidden, or gone).

        Raises:
            LabelkitError: frames of different sizes, or objects without a prompt at
                both ends.
        """
        import torch

        height, width = self._check(frames, first, last)
        ids = sorted(int(i) for i in first)
        last_idx = len(frames) - 1
        out: dict[int, dict[int, np.ndarray]] = {i: {} for i in ids}
        if last_idx < 2:
            return out
        mid = last_idx // 2
        with torch.inference_mode():
            session = self.processor.init_video_session(
                video=[np.asarray(f) for f in frames], inference_device=self.device
            )
            self.sessions += 1
            self._add_prompts(session, 0, ids, first, height, width)
            self._add_prompts(session, last_idx, ids, last, height, width)
            for res in self.model.propagate_in_video_iterator(session, start_frame_idx=0, max_frame_num_to_track=mid):
                t = int(res.frame_idx)
                if 0 < t <= mid:
                    for i, m in self._masks(res, height, width).items():
                        out[i][t] = m
            if last_idx - 1 > mid:
                for res in self.model.propagate_in_video_iterator(
                    session, start_frame_idx=last_idx, max_frame_num_to_track=last_idx - 1 - mid, reverse=True
                ):
                    t = int(res.frame_idx)
                    if mid < t < last_idx:
                        for i, m in self._masks(res, height, width).items():
                            out[i][t] = m
        return out

    def propagate_video(
        self,
        path: str | os.PathLike,
        gaps: Mapping[tuple[int, int], tuple[Mapping[int, Any], Mapping[int, Any]]],
    ) -> Iterable[tuple[tuple[int, int], dict[int, dict[int, np.ndarray]], tuple[int, int]]]:
        """Run :meth:`propagate` on gaps of one video file, decoding it once, front to back.

        Only the frames of the gaps are decoded (with
        :func:`labelkit.media.video.iter_frames`) and only those of gaps not yet run
        are kept in memory.

        Args:
            path: the video file.
            gaps: ``(fa, fb)`` 1-based keyframe numbers -> ``(first, last)`` prompts as
                for :meth:`propagate`, where a prompt may also be a callable
                ``(width, height) -> mask | box`` (built once the frame size is known).

        Yields:
            ``((fa, fb), masks, (width, height))`` per gap, in order of ``fb``; ``masks``
            maps object id -> 1-based frame number ``fa < f < fb`` -> ``(H, W)`` bool mask.

        Raises:
            LabelkitError: the video cannot be opened, or it ends before the last
                keyframe of a gap (the message names the frame).
        """
        from ..media.video import iter_frames

        order = sorted(gaps, key=lambda g: (g[1], g[0]))
        if not order:  # nothing to propagate: do not even open the file
            return
        needed: set[int] = set()
        for fa, fb in order:
            needed.update(range(fa, fb + 1))
        buffer: dict[int, np.ndarray] = {}
        pending = list(order)
        decoded = 0
        for fn, rgb in iter_frames(path, needed):
            decoded = fn
            buffer[fn] = rgb
            while pending and pending[0][1] == fn:
                fa, fb = pending.pop(0)
                frames = [buffer[f] for f in range(fa, fb + 1)]
                height, width = frames[0].shape[:2]
                first, last = gaps[(fa, fb)]
                first = {i: p(width, height) if callable(p) else p for i, p in first.items()}
                last = {i: p(width, height) if callable(p) else p for i, p in last.items()}
                masks = self.propagate(frames, first, last)
                yield (fa, fb), {i: {fa + t: m for t, m in ms.items()} for i, ms in masks.items()}, (width, height)
            keep = min((g[0] for g in pending), default=fn + 1)
            for f in [f for f in buffer if f < keep]:
                del buffer[f]
            if not pending:
                return
        if pending:
            fa, fb = pending[0]
            raise LabelkitError(
                f"video '{path}': frame {min(f for f in needed if f > decoded)} cannot be decoded, so keyframes {fa} -> {fb} "
                "cannot be propagated (the file is shorter than its labels, or corrupt)"
            )


def _load(name_or_path: str | os.PathLike, device: str) -> Sam2VideoPropagator:
    import transformers

    from ..models.segmenters import hub_load

    def load(source: str, local_only: bool):
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=local_only)
        if config.model_type != "sam2_video":
            raise ModelError(
                f"'{name_or_path}' is a {config.model_type!r} model, not a SAM 2 video model "
                f"(model_type 'sam2_video', e.g. {DEFAULT_VIDEO_MODEL!r}); an image-only SAM/SAM 2 "
                "checkpoint has no memory modules to track objects through frames"
            )
        model = transformers.Sam2VideoModel.from_pretrained(source, local_files_only=local_only)
        processor = transformers.Sam2VideoProcessor.from_pretrained(source, local_files_only=local_only)
        return model, processor

    model, processor = hub_load(
        name_or_path, load, "SAM 2 video model",
        hint="lk.interpolate(..., method='sam2', model='{path}')",
    )
    return Sam2VideoPropagator(model, processor, device=device, name=str(name_or_path))


def sam2_video(
    name_or_path: str | os.PathLike = DEFAULT_VIDEO_MODEL, device: str = "auto", cache: bool = True
) -> Sam2VideoPropagator:
    """The SAM 2 video model as a :class:`Sam2VideoPropagator`, loaded once per process.

    Args:
        name_or_path: a hub id (``"facebook/sam2.1-hiera-tiny"``, ``-small``,
            ``-base-plus``, ``-large``) or a local folder saved with
            ``save_pretrained()`` (model and processor). A hub id is downloaded once
            into the Hugging Face cache on first use (never offline).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        cache: reuse the model this process already loaded for the same id or
            folder and device (loading is slow); False loads it again.

    Returns:
        a :class:`Sam2VideoPropagator`.

    Raises:
        WeightsNotAvailableError: the weights are neither cached nor downloadable
            (offline), or the folder does not exist; the message names the id, the
            Hugging Face cache folder and the local-folder alternative.
        ModelError: the folder or id is not a SAM 2 video model.
    """
    from ..models.base import resolve_device

    path = Path(str(name_or_path)).expanduser()
    key = (str(path.resolve()) if path.is_dir() else str(name_or_path), resolve_device(device))
    if cache:
        with _LOADED_LOCK:
            hit = _LOADED.get(key)
        if hit is not None:
            return hit
    prop = _load(name_or_path, device)
    if cache:
        with _LOADED_LOCK:
            _LOADED[key] = prop
    return prop


def clear_model_cache() -> None:
    """Forget the SAM 2 video models :func:`sam2_video` loaded in this process."""
    with _LOADED_LOCK:
        _LOADED.clear()


__all__: Sequence[str] = (
    "DEFAULT_VIDEO_MODEL",
    "Sam2VideoPropagator",
    "clear_model_cache",
    "sam2_video",
)
