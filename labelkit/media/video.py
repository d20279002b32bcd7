"""Decoding video: metadata probing and frame reading (OpenCV), no FiftyOne.

* :func:`video_metadata` - an ``fo.VideoMetadata`` for a file (size, frame rate,
  frame count), read with OpenCV (no ffprobe needed).
* :class:`FrameReader` - random and sequential access to the frames of one video
  (RGB ``uint8`` arrays, frame numbers 1-based as in FiftyOne).
* :func:`iter_frames` - one sequential pass yielding ``(frame_number, image)``.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
from collections.abc import Container
from pathlib import Path

import numpy as np

from ..errors import LabelkitError


def video_metadata(path: str | os.PathLike):
    """``fo.VideoMetadata`` of a video file, read with OpenCV (no ffprobe needed).

    Raises:
        LabelkitError: the file is missing or OpenCV cannot decode it.
    """
    import cv2
    import fiftyone as fo

    p = Path(path)
    if not p.is_file():
        raise LabelkitError(f"video '{path}' does not exist")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        if count <= 0:  # some containers do not store it: count by decoding
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if width <= 0 or height <= 0:
        raise LabelkitError(f"video '{path}' has no readable frames")
    encoding = "".join(chr((fourcc >> (8 * k)) & 0xFF) for k in range(4)).strip("\x00 ") or None
    return fo.VideoMetadata(
        size_bytes=p.stat().st_size,
        mime_type=mimetypes.guess_type(str(p))[0] or "video/mp4",
        frame_width=width,
        frame_height=height,
        frame_rate=fps or None,
        total_frame_count=count,
        duration=(count / fps) if fps > 0 else None,
        encoding_str=encoding,
    )


def _build_metadata(path: str):
    import fiftyone as fo

    if shutil.which("ffprobe"):
        try:
            meta = fo.VideoMetadata.build_for(path)
            if meta.frame_width and meta.total_frame_count:
                return meta
        except Exception:  # noqa: BLE001 - fall back to OpenCV
            pass
    return video_metadata(path)


class FrameReader:
    """Decode single frames of videos with OpenCV: fast when stepping forward, seeks otherwise.

    Keeps one ``cv2.VideoCapture`` open (the last video read) and a few recent
    frames, so stepping ``n -> n+1`` decodes one frame, stepping back to a recent
    frame decodes nothing, and a jump seeks (``CAP_PROP_POS_FRAMES``).

    Frames are returned as ``(H, W, 3)`` uint8 RGB arrays (read-only), frame
    numbers are 1-based.

    Example:
        >>> reader = FrameReader()                                   # doctest: +SKIP
        >>> rgb = reader.read("sample_data/video/sample.mp4", 12)    # doctest: +SKIP
    """

    #: forward jumps up to this many frames decode through instead of seeking
    MAX_GRAB = 30

    def __init__(self, cache_size: int = 8):
        self._path: str | None = None
        self._cap = None
        self._next: int | None = None  # frame number the next cap.read() returns
        self._cache: dict[int, np.ndarray] = {}
        self._cache_size = int(cache_size)

    def _open(self, path: str) -> None:
        import cv2

        self.close()
        if not Path(path).is_file():
            raise LabelkitError(f"video '{path}' does not exist")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        self._cap, self._path, self._next = cap, str(path), 1

    def read(self, path: str | os.PathLike, frame_number: int) -> np.ndarray:
        """Frame ``frame_number`` (1-based) of the video at ``path``, RGB uint8.

        Raises:
            LabelkitError: the video cannot be opened or has no such frame.
        """
        import cv2

        path, fn = str(path), int(frame_number)
        if fn < 1:
            raise LabelkitError(f"frame numbers start at 1, got {fn}")
        if path != self._path or self._cap is None:
            self._open(path)
        hit = self._cache.get(fn)
        if hit is not None:
            return hit
        if fn < self._next or fn > self._next + self.MAX_GRAB:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, fn - 1)
            self._next = fn
        while self._next < fn:
            if not self._cap.grab():
                break
            self._next += 1
        ok, bgr = (False, None) if self._next != fn else self._cap.read()
        if not ok or bgr is None:
            self._next = None  # unknown position: seek next time
            self.close()
            raise LabelkitError(f"video '{path}': frame {fn} cannot be decoded (past the end, or a corrupt file)")
        self._next = fn + 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False
        self._cache[fn] = rgb
        while len(self._cache) > self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        return rgb

    def close(self) -> None:
        """Release the open video (a later :meth:`read` reopens it)."""
        if self._cap is not None:
            self._cap.release()
        self._cap, self._path, self._next = None, None, None
        self._cache.clear()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def iter_frames(path: str | os.PathLike, frame_numbers: Container[int] | None = None):
    """Decode a video sequentially: yields ``(frame_number, rgb)`` for the wanted frames.

    Frames not wanted are skipped with ``grab()`` (no colour conversion). Stops at
    the end of the stream.

    Args:
        path: the video file.
        frame_numbers: 1-based frame numbers to yield (None: every frame).

    Raises:
        LabelkitError: the video cannot be opened.
    """
    import cv2

    if not Path(path).is_file():
        raise LabelkitError(f"video '{path}' does not exist")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise LabelkitError(f"video '{path}' cannot be decoded by OpenCV (unsupported or corrupt file)")
        last = max(frame_numbers) if frame_numbers and hasattr(frame_numbers, "__iter__") else None
        fn = 0
        while True:
            fn += 1
            if last is not None and fn > last:
                return
            if frame_numbers is not None and fn not in frame_numbers:
                if not cap.grab():
                    return
                continue
            ok, bgr = cap.read()
            if not ok:
                return
            yield fn, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
