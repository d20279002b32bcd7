"""Signed distance maps of masks (what shape interpolation blends).

``signed_distance(mask)`` is negative inside the mask, positive outside, and
crosses zero on the boundary, in pixels. Pure numpy/OpenCV.
"""

from __future__ import annotations

import numpy as np


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed Euclidean distance of a 2-D bool mask, in pixels, float32.

    Negative inside, positive outside; the zero level lies on the pixel edges
    between inside and outside (``-0.5`` at an inside pixel next to the
    boundary, ``+0.5`` at an outside pixel next to it). A mask that touches the
    array border should be padded first (the outside is assumed to be there).
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.full(m.shape, np.inf, np.float32)
    if m.all():
        return np.full(m.shape, -np.inf, np.float32)
    inside = ndimage.distance_transform_edt(m)
    outside = ndimage.distance_transform_edt(~m)
    return np.where(m, 0.5 - inside, outside - 0.5).astype(np.float32)
