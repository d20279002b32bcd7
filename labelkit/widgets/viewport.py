"""Canvas <-> image coordinates for the labeler: fit, zoom around a point, pan.

Conventions:

* Image coordinates are image pixels ``(x, y)`` as everywhere in labelkit (pixel
  ``(col, row)`` covers ``[col, col+1) x [row, row+1)``).
* Canvas coordinates are canvas pixels ``(cx, cy)`` with the same convention, as
  ipycanvas reports them for mouse events.
* The mapping is ``x = ox + cx / scale`` and ``cx = (x - ox) * scale``: ``scale`` is
  canvas pixels per image pixel, ``(ox, oy)`` the image point at the canvas's
  top-left corner. ``scale = fit_scale * zoom``; ``zoom == 1`` shows the whole
  image centred in the canvas.

Pure Python, no ipywidgets; the widget keeps one :class:`Viewport` per sample.
"""

from __future__ import annotations

import dataclasses

MIN_ZOOM = 1.0
#: Zoom stops at 32 canvas pixels per image pixel (or 32x the fit, if larger).
MAX_PIXEL_SCALE = 32.0


@dataclasses.dataclass
class Viewport:
    """Which part of a ``width x height`` image a ``canvas_width x canvas_height``
    canvas shows.

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        canvas_width: canvas width in pixels.
        canvas_height: canvas height in pixels.
        zoom: magnification relative to the fitted view (>= 1).
        ox: image x at the canvas's left edge.
        oy: image y at the canvas's top edge.
    """

    width: int
    height: int
    canvas_width: int
    canvas_height: int
    zoom: float = 1.0
    ox: float = 0.0
    oy: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.canvas_width <= 0 or self.canvas_height <= 0:
            raise ValueError(
                f"canvas size must be positive, got {self.canvas_width}x{self.canvas_height}"
            )
        self.zoom = min(max(float(self.zoom), MIN_ZOOM), self.max_zoom)
        if self.zoom == 1.0 and self.ox == 0.0 and self.oy == 0.0:
            self.fit()
        else:
            self._clamp()

    # ----------------------------------------------------------------- scales
    @property
    def fit_scale(self) -> float:
        """Canvas pixels per image pixel when the whole image fits the canvas."""
        return min(self.canvas_width / self.width, self.canvas_height / self.height)

    @property
    def scale(self) -> float:
        """Canvas pixels per image pixel at the current zoom."""
        return self.fit_scale * self.zoom

    @property
    def max_zoom(self) -> float:
        """Largest zoom: 32 canvas pixels per image pixel (at least 32x the fit)."""
        return max(MAX_PIXEL_SCALE / self.fit_scale, MAX_PIXEL_SCALE)

    # ---------------------------------------------------------------- mapping
    def to_image(self, cx: float, cy: float) -> tuple[float, float]:
        """Canvas point -> image point (may lie outside the image)."""
        s = self.scale
        return self.ox + cx / s, self.oy + cy / s

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Image point -> canvas point."""
        s = self.scale
        return (x - self.ox) * s, (y - self.oy) * s

    def contains_image_point(self, x: float, y: float) -> bool:
        """Whether an image point lies inside the image."""
        return 0 <= x < self.width and 0 <= y < self.height

    def visible_box(self) -> tuple[float, float, float, float]:
        """The image region the canvas shows, ``(x0, y0, x1, y1)`` (may exceed the image)."""
        s = self.scale
        return (
            self.ox,
            self.oy,
            self.ox + self.canvas_width / s,
            self.oy + self.canvas_height / s,
        )

    # ------------------------------------------------------------- navigation
    def fit(self) -> None:
        """Show the whole image, centred."""
        self.zoom = 1.0
        s = self.scale
        self.ox = -(self.canvas_width / s - self.width) / 2.0
        self.oy = -(self.canvas_height / s - self.height) / 2.0

    def zoom_at(self, cx: float, cy: float, factor: float) -> bool:
        """Multiply the zoom by ``factor`` keeping the image point under canvas
        point ``(cx, cy)`` fixed. Returns True if the view changed."""
        old = (self.zoom, self.ox, self.oy)
        x, y = self.to_image(cx, cy)
        self.zoom = min(max(self.zoom * float(factor), MIN_ZOOM), self.max_zoom)
        if self.zoom == MIN_ZOOM:
            self.fit()
        else:
            s = self.scale
            self.ox = x - cx / s
            self.oy = y - cy / s
            self._clamp()
        return (self.zoom, self.ox, self.oy) != old

    def pan(self, dcx: float, dcy: float) -> bool:
        """Move the view by a canvas-pixel drag ``(dcx, dcy)`` (the image follows the
        pointer). Returns True if the view changed."""
        old = (self.ox, self.oy)
        s = self.scale
        self.ox -= dcx / s
        self.oy -= dcy / s
        self._clamp()
        return (self.ox, self.oy) != old

    def _clamp(self) -> None:
        """Keep the image on screen: centred along an axis where it is smaller than
        the canvas, otherwise no empty margin beyond its edges."""
        s = self.scale
        vw, vh = self.canvas_width / s, self.canvas_height / s
        if vw >= self.width:
            self.ox = -(vw - self.width) / 2.0
        else:
            self.ox = min(max(self.ox, 0.0), self.width - vw)
        if vh >= self.height:
            self.oy = -(vh - self.height) / 2.0
        else:
            self.oy = min(max(self.oy, 0.0), self.height - vh)

    def key(self) -> tuple:
        """A hashable summary (for caches)."""
        return (self.width, self.height, self.canvas_width, self.canvas_height,
                round(self.zoom, 9), round(self.ox, 6), round(self.oy, 6))
