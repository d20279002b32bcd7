"""Pixels for the labeler, computed in numpy: the image view, the mask overlay, encoding.

Nothing here talks to a browser or to FiftyOne; the widget calls these functions and
sends the bytes they return. Everything is rendered at *display* resolution (the
canvas size) from full-resolution data, so a 8000x6000 image costs what a
canvas-sized one costs:

* :class:`ImageSource` keeps a reduced-resolution preview of the image (decoded
  with JPEG DCT scaling, see :func:`read_preview`) and, only when the user zooms in
  past the preview's resolution, the full image plus 2x-reduced pyramid levels.
  :meth:`ImageSource.view` samples the visible region from the coarsest level that
  still has at least one pixel per canvas pixel.
* :func:`render_overlay` draws every visible instance mask into ONE ``(H, W, 4)``
  RGBA array: per-instance colour, state-dependent fill (pending masks get a dashed
  outline, rejected ones a faint hatch, the selected one a bright outline), masks
  sampled from the session's full-resolution crops at canvas pixel centres.
* :func:`selection_polygons` turns the selected instance's sampled mask into outline
  polygons (canvas coordinates) that the widget draws as vector commands on a layer
  of its own; :func:`color_keys` / :func:`changed_region` find the part of the
  overlay an edit changed, which the widget sends as a patch.
* :func:`encode_jpeg` / :func:`encode_png` turn arrays into the binary buffers the
  widget sends (never base64).

Coordinates follow :mod:`labelkit.widgets.viewport`.
"""

from __future__ import annotations

import colorsys
import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np

from .viewport import Viewport

#: Canvas background outside the image (RGB).
BACKGROUND = (38, 38, 38)


# ------------------------------------------------------------------------ colours


#: Number of distinct instance colours. Instance ``k`` gets colour ``k % N_COLORS``; with
#: 3 alphas per colour the whole overlay fits an 8-bit palette PNG however many
#: instances a sample has.
N_COLORS = 60
_PALETTE = [
    tuple(int(c * 255) for c in colorsys.hsv_to_rgb((0.12 + i * 0.618033988749895) % 1.0, 0.85, 1.0))
    for i in range(N_COLORS)
]


def instance_color(k: int) -> tuple[int, int, int]:
    """A saturated RGB colour for instance ``k``: a golden-ratio walk around the hue
    circle, so neighbouring ks get very different colours (repeats every 60)."""
    return _PALETTE[int(k) % N_COLORS]


def color_index(inst) -> int:
    """What an instance is coloured by: its ``color_index`` when it has one (a video
    instance: its track, so one object keeps its colour across frames), else ``k``."""
    c = getattr(inst, "color_index", None)
    return inst.k if c is None else int(c)


# ---------------------------------------------------------------------- decoding


def read_preview(path: str | os.PathLike, min_width: int, min_height: int) -> np.ndarray | None:
    """Decode an image at a reduced resolution that still covers ``min_width x min_height``.

    JPEG files are decoded with DCT scaling (1/2, 1/4 or 1/8 of the size), which is
    what makes showing a 48-megapixel photo fast; other formats are decoded fully.
    EXIF orientation and colour modes are handled as :func:`labelkit.media.image.read_image`
    does.

    Args:
        path: the image file.
        min_width: smallest width wanted (displayed orientation).
        min_height: smallest height wanted.

    Returns:
        ``(h, w, 3)`` uint8 RGB array (possibly larger than asked), or None when the
        file cannot be read this way (the caller then uses the full reader, which
        reports the problem in plain words).
    """
    try:
        from PIL import Image, ImageOps

        from ..media.image import to_rgb_array

        with Image.open(path) as img:
            if img.format == "JPEG":
                try:
                    orientation = img.getexif().get(0x0112, 1)
                except Exception:  # noqa: BLE001 - broken EXIF: ignore for the preview
                    orientation = 1
                want = (max(1, min_width), max(1, min_height))
                if orientation in (5, 6, 7, 8):
                    want = want[::-1]
                img.draft("RGB", want)
            img.load()
            img = ImageOps.exif_transpose(img)
            return np.ascontiguousarray(to_rgb_array(img))
    except Exception:  # noqa: BLE001 - any problem: fall back to the full reader
        return None


@dataclasses.dataclass
class _Level:
    array: np.ndarray  # (h, w, 3) uint8
    fx: float  # image pixels per level pixel, horizontally
    fy: float


class ImageSource:
    """The display pixels of one image at any zoom, from a pyramid built on demand.

    Args:
        width: full image width (the session's ``width``).
        height: full image height.
        preview: a reduced-resolution ``(h, w, 3)`` uint8 copy of the image, or None.
        load_full: returns the full ``(height, width, 3)`` image (the session's
            ``image()``); called only when the view needs more detail than the preview.
        load_scaled: optional ``(min_width, min_height) -> array | None`` that decodes
            a reduced copy at least that large (:func:`read_preview`); tried before
            ``load_full`` when the view needs a finer, but still reduced, level.
    """

    def __init__(
        self,
        width: int,
        height: int,
        preview: np.ndarray | None,
        load_full: Callable[[], np.ndarray],
        load_scaled: Callable[[int, int], np.ndarray | None] | None = None,
    ):
        self.width = int(width)
        self.height = int(height)
        self._load_full = load_full
        self._load_scaled = load_scaled
        self._full_loaded = False
        self.levels: list[_Level] = []
        if preview is not None:
            ph, pw = preview.shape[:2]
            if (pw, ph) == (self.width, self.height):
                self._full_loaded = True
                self.levels.append(_Level(preview, 1.0, 1.0))
            elif pw > 0 and ph > 0:
                self.levels.append(_Level(preview, self.width / pw, self.height / ph))

    @property
    def full_loaded(self) -> bool:
        """Whether the full-resolution image has been loaded."""
        return self._full_loaded

    def _ensure_full(self) -> None:
        if self._full_loaded:
            return
        full = np.asarray(self._load_full())
        self._full_loaded = True
        self.levels.append(_Level(full, 1.0, 1.0))
        self.levels.sort(key=lambda lv: lv.fx)

    def _level_for(self, scale: float) -> _Level:
        """The coarsest level with at least one level pixel per canvas pixel (built
        on demand: a finer reduced decode, else the full image and a 2^k reduction)."""
        need = 1.0 / max(scale, 1e-12)  # largest acceptable image-px per level-px
        ok = [lv for lv in self.levels if max(lv.fx, lv.fy) <= need * 1.0001]
        if ok:
            return max(ok, key=lambda lv: lv.fx)
        if need >= 2.0 and self._load_scaled is not None and not self._full_loaded:
            arr = self._load_scaled(int(np.ceil(self.width / need)), int(np.ceil(self.height / need)))
            if arr is not None and arr.shape[0] > 0 and arr.shape[1] > 0:
                lv = _Level(arr, self.width / arr.shape[1], self.height / arr.shape[0])
                if max(lv.fx, lv.fy) <= need * 1.0001:
                    self.levels.append(lv)
                    self.levels.sort(key=lambda lv: lv.fx)
                    return lv
        self._ensure_full()
        factor = 1
        while factor * 2 <= need:
            factor *= 2
        for lv in self.levels:
            if lv.fx <= factor + 1e-9 and lv.fy <= factor + 1e-9 and lv.fx * 2 > factor:
                return lv
        import cv2

        full = self.levels[0].array
        w = max(1, self.width // factor)
        h = max(1, self.height // factor)
        arr = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)
        lv = _Level(arr, self.width / w, self.height / h)
        self.levels.append(lv)
        self.levels.sort(key=lambda lv: lv.fx)
        return lv

    def view(self, vp: Viewport, background: Sequence[int] = BACKGROUND) -> np.ndarray:
        """The canvas-sized ``(canvas_height, canvas_width, 3)`` uint8 view of ``vp``.

        Pixels outside the image are ``background``. Zoomed in past 4 canvas pixels
        per image pixel, pixels are drawn as sharp squares (nearest neighbour).
        """
        import cv2

        if not self.levels:
            self._ensure_full()
        lv = self._level_for(vp.scale)
        ax = lv.fx * vp.scale  # canvas px per level px
        ay = lv.fy * vp.scale
        bx = -vp.ox * vp.scale
        by = -vp.oy * vp.scale
        # pixel-index form of cx = x_level * ax + bx with centres at +0.5
        m = np.array(
            [[ax, 0.0, 0.5 * ax + bx - 0.5], [0.0, ay, 0.5 * ay + by - 0.5]], dtype=np.float64
        )
        flags = cv2.INTER_NEAREST if vp.scale >= 4.0 else cv2.INTER_LINEAR
        return cv2.warpAffine(
            lv.array,
            m,
            (vp.canvas_width, vp.canvas_height),
            flags=flags,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=tuple(int(c) for c in background),
        )


# ------------------------------------------------------------------------ overlay

#: fill alpha (0-255) by instance state
FILL_ALPHA = {"pending": 80, "accepted": 110, "edited": 110, "new": 110, "rejected": 70}
SELECTED_FILL_ALPHA = 140
OUTLINE_ALPHA = 235
REJECTED_RGB = (150, 150, 150)
_TAG_BG = (0, 0, 0, 170)


@dataclasses.dataclass(frozen=True)
class OverlayStyle:
    """What the overlay shows.

    Attributes:
        selected: the selected instance's k (drawn on top, bright outline) or None.
        show_below_threshold: draw pending proposals below the confidence threshold too.
        show_rejected: draw rejected proposals (faint grey hatch).
        tags: draw a small "k class confidence" tag at each mask (only when at most
            ``max_tags`` instances are visible; the selected one is always tagged).
        max_tags: see ``tags``.
    """

    selected: int | None = None
    show_below_threshold: bool = False
    show_rejected: bool = True
    tags: bool = True
    max_tags: int = 30


def draw_order(instances: Sequence, style: OverlayStyle) -> list:
    """The visible instances bottom to top: rejected first, then larger masks below
    smaller ones (a small object inside a big one stays clickable), the selected one
    last. Hit testing walks this list backwards."""
    vis = [i for i in instances if is_visible(i, style)]
    return sorted(vis, key=lambda i: (i.k == style.selected, i.state != "rejected", -_box_area(i), i.k))


def _box_area(inst) -> int:
    x0, y0, x1, y1 = inst.box
    return (x1 - x0) * (y1 - y0)


def is_visible(inst, style: OverlayStyle) -> bool:
    """Whether the overlay draws ``inst`` (empty masks, hidden rejected ones and
    pending proposals below the threshold are not drawn; the selection always is)."""
    if inst.box is None:
        return False
    if inst.k == style.selected:
        return True
    if inst.state == "rejected" and not style.show_rejected:
        return False
    if getattr(inst, "below_threshold", False) and inst.state == "pending" and not style.show_below_threshold:
        return False
    return True


def hit_test(instances: Sequence, style: OverlayStyle, x: float, y: float) -> int | None:
    """The k of the topmost visible instance whose mask covers image point ``(x, y)``."""
    col, row = int(np.floor(x)), int(np.floor(y))
    for inst in reversed(draw_order(instances, style)):
        x0, y0, x1, y1 = inst.box
        if x0 <= col < x1 and y0 <= row < y1 and inst.crop[row - y0, col - x0]:
            return inst.k
    return None


def _sample_crop(inst, vp: Viewport):
    """The instance's mask sampled at the canvas pixel centres it covers:
    ``(u0, v0, sub)`` with ``sub`` a bool array for canvas rows ``v0..`` and
    columns ``u0..``; None when it is off-screen or samples no pixel."""
    x0, y0, x1, y1 = inst.box
    s = vp.scale
    cw, ch = vp.canvas_width, vp.canvas_height
    # canvas pixel u samples image x = ox + (u + 0.5) / s
    u0 = max(int(np.ceil((x0 - vp.ox) * s - 0.5)), 0)
    u1 = min(int(np.ceil((x1 - vp.ox) * s - 0.5)), cw)
    v0 = max(int(np.ceil((y0 - vp.oy) * s - 0.5)), 0)
    v1 = min(int(np.ceil((y1 - vp.oy) * s - 0.5)), ch)
    if u1 <= u0 or v1 <= v0:
        return None
    cols = np.floor(vp.ox + (np.arange(u0, u1) + 0.5) / s).astype(np.intp) - x0
    rows = np.floor(vp.oy + (np.arange(v0, v1) + 0.5) / s).astype(np.intp) - y0
    np.clip(cols, 0, x1 - x0 - 1, out=cols)
    np.clip(rows, 0, y1 - y0 - 1, out=rows)
    sub = inst.crop.take(rows, axis=0).take(cols, axis=1)
    if not sub.any():
        return None
    return u0, v0, sub


class OverlayRenderer:
    """Renders the overlay of one sample, remembering each instance's sampled mask.

    Instances are immutable snapshots (an edited instance is a new object), so a
    sampled mask stays valid until the view changes: after a brush stroke only the
    edited instance is sampled again. Call :meth:`reset` when the sample or the view
    changes.

    The overlay is built as an *index map*: for each canvas pixel, which instance
    is on top, whether the pixel is on its outline, and a diagonal stripe pattern
    (dashes for pending outlines, hatching for rejected masks); a lookup table turns
    indices into RGBA. With up to 63 visible instances the map is sent as an 8-bit
    palette PNG (one byte per pixel), else as RGBA.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple] = {}
        self._vp_key: tuple | None = None
        self._pattern: np.ndarray | None = None

    def reset(self) -> None:
        """Forget cached samplings (new sample or new view)."""
        self._cache.clear()
        self._vp_key = None

    def sampled(self, inst, vp: Viewport):
        """``(u0, v0, sub)``: ``inst``'s mask sampled at the canvas pixel centres of ``vp``
        (cached until :meth:`reset` or a new view), or None when it is off-screen."""
        if vp.key() != self._vp_key:
            self._cache.clear()
            self._vp_key = vp.key()
        return self._sampled(inst, vp)

    def _sampled(self, inst, vp: Viewport):
        hit = self._cache.get(id(inst))
        if hit is not None and hit[0] is inst:
            return hit[1]
        got = _sample_crop(inst, vp)
        self._cache[id(inst)] = (inst, got)  # holding inst keeps its id unique
        return got

    def _stripes(self, vp: Viewport) -> np.ndarray:
        shape = (vp.canvas_height, vp.canvas_width)
        if self._pattern is None or self._pattern.shape != shape:
            uu = np.arange(shape[1])[None, :]
            vv = np.arange(shape[0])[:, None]
            self._pattern = ((((uu + vv) // 4) % 2) == 0).astype(np.uint8)
        return self._pattern

    def index_map(self, instances: Sequence, vp: Viewport, style: OverlayStyle):
        """``(index, lut, tagged)``: ``index`` a ``(H, W)`` integer map into the
        ``(M, 4)`` uint8 RGBA ``lut``; ``tagged`` the instances given a tag."""
        key = vp.key()
        if key != self._vp_key:
            self._cache.clear()
            self._vp_key = key
        live = {id(i) for i in instances}
        for stale in [k for k in self._cache if k not in live]:
            del self._cache[stale]
        ch, cw = vp.canvas_height, vp.canvas_width
        order = []
        for inst in draw_order(instances, style):
            got = self._sampled(inst, vp)
            if got is not None:
                order.append((inst, got))
        n = len(order)
        dtype = np.uint8 if n <= 63 else (np.uint16 if n <= 16_000 else np.int32)
        ids = np.zeros((ch, cw), dtype=dtype)
        sel_slot = None
        for slot, (inst, (u0, v0, sub)) in enumerate(order, start=1):
            h, w = sub.shape
            np.putmask(ids[v0 : v0 + h, u0 : u0 + w], sub, slot)
            if inst.k == style.selected:
                sel_slot = slot
        p = np.pad(ids, 1, mode="edge")
        edge = (ids != p[:-2, 1:-1]) | (ids != p[2:, 1:-1]) | (ids != p[1:-1, :-2]) | (ids != p[1:-1, 2:])
        edge &= ids > 0
        if sel_slot is not None:
            u0, v0, sub = order[sel_slot - 1][1]
            h, w = sub.shape
            ys, xs = slice(max(v0 - 1, 0), v0 + h + 1), slice(max(u0 - 1, 0), u0 + w + 1)
            e = edge[ys, xs]
            mine = ids[ys, xs] == sel_slot
            q = np.pad(e & mine, 1)
            thick = q[1:-1, 1:-1] | q[:-2, 1:-1] | q[2:, 1:-1] | q[1:-1, :-2] | q[1:-1, 2:]
            e |= thick & mine
        index = ids * dtype(4)
        index += edge.astype(dtype) * dtype(2)
        index += self._stripes(vp).astype(dtype, copy=False)
        lut = np.zeros((4 * (n + 1), 4), dtype=np.uint8)
        lut[2] = _TAG_BG  # background pixels are never outlines: entry 2 is free
        for slot, (inst, _) in enumerate(order, start=1):
            lut[4 * slot : 4 * slot + 4] = _lut_rows(inst, inst.k == style.selected)
        tagged = []
        if style.tags:
            many = n > style.max_tags
            for slot, (inst, (u0, v0, _)) in enumerate(order, start=1):
                if inst.state == "rejected" and inst.k != style.selected:
                    continue
                if many and inst.k != style.selected:
                    continue
                _draw_tag(index, tag_text(inst), u0, v0, 4 * slot + 3)
                tagged.append(inst)
        return index, lut, tagged

    def render(self, instances: Sequence, vp: Viewport, style: OverlayStyle = OverlayStyle()) -> np.ndarray:
        """The ``(H, W, 4)`` uint8 RGBA overlay (straight alpha)."""
        index, lut, _ = self.index_map(instances, vp, style)
        return lut[index]

    def render_png(self, instances: Sequence, vp: Viewport, style: OverlayStyle = OverlayStyle()) -> bytes:
        """The overlay as PNG bytes (see :func:`encode_overlay`)."""
        index, lut, _ = self.index_map(instances, vp, style)
        return encode_overlay(index, lut)


def _lut_rows(inst, selected: bool) -> np.ndarray:
    """RGBA for (fill, fill+stripe, outline, outline+stripe) of one instance."""
    rows = np.zeros((4, 4), dtype=np.uint8)
    if selected:
        rgb = instance_color(color_index(inst))
        rows[0] = rows[1] = (*rgb, SELECTED_FILL_ALPHA)
        rows[2] = rows[3] = (255, 255, 255, 255)
    elif inst.state == "rejected":
        rows[1] = rows[3] = (*REJECTED_RGB, FILL_ALPHA["rejected"])  # hatch: stripes only
    else:
        rgb = instance_color(color_index(inst))
        fill = (*rgb, FILL_ALPHA.get(inst.state, 100))
        rows[0] = rows[1] = fill
        rows[3] = (*rgb, OUTLINE_ALPHA)
        rows[2] = fill if inst.state == "pending" else (*rgb, OUTLINE_ALPHA)  # dashed outline
    return rows


# ---------------------------------------------------------------- selection layer


def selection_polygons(u0: int, v0: int, sub: np.ndarray, simplify: float = 0.6):
    """The outline of a sampled mask as polygons in canvas coordinates, for drawing the
    selection as vector commands instead of pixels.

    Args:
        u0, v0: canvas column and row of ``sub``'s top-left pixel (see ``_sample_crop``).
        sub: ``(h, w)`` bool mask sampled at canvas pixel centres.
        simplify: Douglas-Peucker tolerance in canvas pixels (0: every contour vertex).

    Returns:
        ``(outer, holes)``: lists of ``(n >= 3, 2)`` float32 arrays, vertices at canvas pixel
        centres (``+ 0.5``); ``outer`` bound the mask's parts, ``holes`` the holes in
        them. Parts thinner than 3 vertices are padded (a stroke still draws them).
    """
    import cv2

    m = np.ascontiguousarray(sub, dtype=np.uint8)
    if not m.any():
        return [], []
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer: list[np.ndarray] = []
    holes: list[np.ndarray] = []
    if hierarchy is None:
        return outer, holes
    for c, h in zip(contours, hierarchy[0], strict=True):
        if simplify > 0 and len(c) > 8:
            c = cv2.approxPolyDP(c, simplify, True)
        pts = (c.reshape(-1, 2) + (u0 + 0.5, v0 + 0.5)).astype(np.float32)  # half the bytes of float64
        if len(pts) < 3:
            pts = np.concatenate([pts, np.repeat(pts[-1:], 3 - len(pts), axis=0)])
        (holes if h[3] >= 0 else outer).append(pts)
    return outer, holes


def selection_fill_alpha(inst, drawn: bool) -> int:
    """Alpha (0-255) of the selection layer's tint over instance ``inst``: what brings its
    fill to :data:`SELECTED_FILL_ALPHA` over the overlay's own fill (``drawn``: the
    overlay shows ``inst``; else the tint alone)."""
    base = FILL_ALPHA.get(inst.state, 100) / 255.0 if drawn and inst.state != "rejected" else 0.0
    want = SELECTED_FILL_ALPHA / 255.0
    return int(round(255 * max(0.0, 1.0 - (1.0 - want) / (1.0 - base))))


def tag_box(text: str, u: int, v: int, width: int, height: int) -> tuple[int, int, int, int, int]:
    """Where :func:`_draw_tag` puts a tag: ``(x, y, w, h, baseline_y)`` of its
    background rectangle and text baseline, in canvas pixels (the selection layer draws
    the selected instance's tag there when the overlay does not)."""
    import cv2

    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    x = min(max(u, 0), max(width - tw - 4, 0))
    y = v - 3 if v - tht - base - 4 >= 0 else v + tht + 3
    y = min(max(y, tht + 2), height - base - 1)
    return x, y - tht - 2, tw + 4, tht + base + 3, y


# ----------------------------------------------------------------- overlay patches


def color_keys(index: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The overlay's colour of every pixel as one ``uint32`` (RGBA packed): two overlays
    look the same exactly where their keys are equal (see :func:`changed_region`)."""
    keys = np.ascontiguousarray(lut, dtype=np.uint8).view("<u4").reshape(-1)
    return keys[index]


def changed_region(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box ``(row0, row1, col0, col1)`` (half-open) of the pixels where two
    equally shaped key maps (:func:`color_keys`) differ, or None where none does."""
    diff = before != after
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def render_overlay(instances: Sequence, vp: Viewport, style: OverlayStyle = OverlayStyle()) -> np.ndarray:
    """Render all visible instance masks into one RGBA array at canvas resolution.

    Args:
        instances: the session's instances (objects with ``k``, ``label``,
            ``state``, ``box``, ``crop``, ``area``, ``below_threshold``, ``confidence``).
        vp: the viewport (canvas size, zoom, offset).
        style: what to show (see :class:`OverlayStyle`).

    Returns:
        ``(canvas_height, canvas_width, 4)`` uint8 RGBA, straight (not premultiplied)
        alpha; fully transparent where no mask is drawn. Per-instance colour
        (:func:`instance_color`); pending masks have a dashed outline, accepted /
        edited / new ones a solid one, rejected ones are a faint grey hatch, the
        selected one is drawn on top with a 2-pixel white outline.
    """
    return OverlayRenderer().render(instances, vp, style)


def tag_text(inst) -> str:
    """The short label drawn at a mask: ``"3 ball .93"`` (k, class, confidence)."""
    conf = getattr(inst, "confidence", None)
    c = "" if conf is None else f" {conf:.2f}".replace(" 0.", " .")
    return f"{inst.k} {inst.label}{c}"


def _draw_tag(index: np.ndarray, text: str, u: int, v: int, value: int) -> None:
    """Draw a tag into the index map (no anti-aliasing: indices do not blend)."""
    import cv2

    h, w = index.shape[:2]
    x, top, bw, bh, y = tag_box(text, u, v, w, h)
    cv2.rectangle(index, (x, top), (x + bw - 1, top + bh - 1), 2, -1)
    cv2.putText(index, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, int(value), 1, cv2.LINE_8)


# ----------------------------------------------------------------------- encoding


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    """``(H, W, 3)`` uint8 RGB -> JPEG bytes (OpenCV's libjpeg-turbo)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV does not fail on valid uint8 input
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def encode_png(rgba: np.ndarray, compression: int = 1) -> bytes:
    """``(H, W, 4)`` uint8 RGBA -> PNG bytes.

    Overlays are flat colour over large transparent areas, so zlib level 1 without
    row filters is several times faster than libpng's adaptive filtering and
    compresses about as well.
    """
    import cv2

    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    ok, buf = cv2.imencode(".png", bgra, params)
    if not ok:  # pragma: no cover
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def encode_overlay(index: np.ndarray, lut: np.ndarray) -> bytes:
    """Index map + RGBA lookup table -> PNG bytes.

    Identical colours are merged first (a fill drawn with and without stripes is one
    colour), which keeps the map uniform where the picture is, so it compresses
    fast; then an 8-bit palette PNG if at most 256 colours remain, else RGBA.
    """
    uniq, inv = np.unique(lut, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    if len(uniq) <= 256:
        return encode_palette_png(inv.astype(np.uint8)[index], uniq)
    return encode_png(uniq[inv[index]])


def encode_palette_png(index: np.ndarray, lut: np.ndarray, compression: int = 1) -> bytes:
    """An 8-bit index map plus an ``(M <= 256, 4)`` RGBA palette -> PNG bytes (one
    byte per pixel: ~4x less to compress than RGBA)."""
    import io

    from PIL import Image

    h, w = index.shape
    im = Image.frombytes("P", (w, h), np.ascontiguousarray(index, dtype=np.uint8).tobytes())
    pal = np.zeros((256, 4), dtype=np.uint8)
    pal[: len(lut)] = lut
    im.putpalette(pal[:, :3].tobytes())
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=int(compression), transparency=pal[:, 3].tobytes())
    return buf.getvalue()
