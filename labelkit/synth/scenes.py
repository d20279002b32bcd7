"""Deterministic synthetic scenes: everyday objects on textured surfaces, with instance masks.

The generator behind ``sample_data/`` (the bundled sample model is trained on it).
Everything is procedural (numpy + OpenCV + Pillow) and seeded with
``np.random.default_rng``: the same seed gives the same pixels and masks (with the
same numpy/OpenCV versions).

Classes (category ids are fixed across splits, see :data:`CATEGORY_IDS`):

* ``"ball"`` - shaded sphere with coloured stripes or beach-ball segments;
* ``"mug"`` - glossy cylinder with a rim, an opening (empty or coffee) and a handle;
* ``"book"`` - 3-D box: cover with a title plate, page edges and a spine;
* ``"donut"`` - the *new* class (never in the known splits): a torus with icing
  and sprinkles, and a hole that shows the background (its mask has a hole too).

Scenes have procedural backgrounds (known: ``wood``, ``tiles``, ``fabric``; shifted:
``grass``, ``marble``, ``confetti``), one light direction per scene that shades
every object and casts soft shadows, a lighting field (known: ``normal``; shifted:
``dim``, ``cast``, ``vignette``) and sensor noise. Objects are painted back to
front; an object's label is its *visible* mask, so the masks of one scene never
overlap. Instances left with less than ``min_visible`` of their area, or fewer than
``min_area`` pixels, are dropped.

Coordinates are image pixels: ``x`` to the right, ``y`` down; pixel ``(col, row)``
covers ``[col, col+1) x [row, row+1)``. Masks are ``(H, W)`` bool arrays.

Example:
    >>> from labelkit import synth
    >>> image, objects = synth.render_scene(0, 320, 240)
    >>> image.shape, image.dtype
    ((240, 320, 3), dtype('uint8'))
    >>> sorted({o["label"] for o in objects}) <= sorted(synth.KNOWN_CLASSES)
    True

For video, render the background once and move objects yourself::

    bg = synth.render_background("wood", 320, 240, seed=1)
    for t in range(30):
        frame, objs = synth.render_objects(
            bg, [dict(label="ball", x=40 + 8 * t, y=120, size=60, angle=10 * t, seed=7)],
            light_angle=-2.2, seed=1)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

KNOWN_CLASSES: tuple[str, ...] = ("ball", "mug", "book")
"""Classes of the known splits (and of the bundled sample model), in category-id order."""
NEW_CLASS: str = "donut"
"""The class only ``shifted-newclass`` contains."""
ALL_CLASSES: tuple[str, ...] = KNOWN_CLASSES + (NEW_CLASS,)
CATEGORY_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(ALL_CLASSES)}
"""COCO category id of every class, the same in every split (ball=1, mug=2, book=3, donut=4)."""

KNOWN_BACKGROUNDS: tuple[str, ...] = ("wood", "tiles", "fabric")
SHIFTED_BACKGROUNDS: tuple[str, ...] = ("grass", "marble", "confetti")
BACKGROUNDS: tuple[str, ...] = KNOWN_BACKGROUNDS + SHIFTED_BACKGROUNDS
KNOWN_LIGHTING: tuple[str, ...] = ("normal",)
SHIFTED_LIGHTING: tuple[str, ...] = ("dim", "cast", "vignette")
LIGHTING: tuple[str, ...] = KNOWN_LIGHTING + SHIFTED_LIGHTING

VARIANTS: dict[str, dict[str, Any]] = {
    "known": dict(classes=KNOWN_CLASSES, background="known", lighting="known"),
    "shifted-background": dict(classes=KNOWN_CLASSES, background="shifted", lighting="shifted"),
    "shifted-newclass": dict(
        classes=ALL_CLASSES, background="known", lighting="known", must_include=(NEW_CLASS,)
    ),
}
"""Scene settings of :func:`write_split` variants (keyword arguments of :func:`render_scene`)."""

# relative object size per class (multiplies the sampled nominal size)
_CLASS_SCALE = {"ball": 0.85, "mug": 1.0, "book": 1.1, "donut": 0.9}
_SUPERSAMPLE = 3

# --------------------------------------------------------------------------- helpers


def _as_rng(rng_or_seed: np.random.Generator | int | Sequence[int]) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _value_noise(
    rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4, aspect: float = 1.0
) -> np.ndarray:
    """Smooth fractal noise in ``[0, 1]``, shape ``(h, w)`` float32.

    ``cell`` is the feature size in pixels of the coarsest octave; ``aspect`` > 1
    stretches features along x.
    """
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        c = max(cell / 2**o, 1.5)
        gh = int(math.ceil(h / c)) + 2
        gw = int(math.ceil(w / (c * aspect))) + 2
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in ``[0, 1]``) as an RGB float32 triple."""
    px = np.array([[[h * 360.0, s, v]]], np.float32)
    return cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0]


def _random_colour(rng: np.random.Generator, sat=(0.55, 0.9), val=(0.55, 0.95)) -> np.ndarray:
    return _hsv(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def _distinct_colours(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    h0 = rng.random()
    hues = [(h0 + k / n + rng.uniform(-0.06, 0.06)) % 1.0 for k in range(n)]
    return [_hsv(h, rng.uniform(0.6, 0.95), rng.uniform(0.7, 0.95)) for h in hues]


def _grid(n: int, ss: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-unit coordinates of an ``n x n`` supersampled sprite grid centred on 0."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / ss - side / 2.0
    return np.meshgrid(c, c)


# --------------------------------------------------------------------------- backgrounds


def _bg_wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    vertical = rng.random() < 0.5
    hh, ww = (w, h) if vertical else (h, w)
    tones = [(0.58, 0.38, 0.21), (0.70, 0.51, 0.32), (0.45, 0.28, 0.15), (0.78, 0.62, 0.43)]
    base = np.array(tones[rng.integers(len(tones))], np.float32) * rng.uniform(0.9, 1.1)
    plank = rng.uniform(34, 62)
    offset = rng.uniform(0, plank)
    n_planks = int(hh / plank) + 3
    y = np.arange(hh, dtype=np.float32)[:, None]
    x = np.arange(ww, dtype=np.float32)[None, :]
    idx = ((y + offset) // plank).astype(np.int64)
    tone = rng.uniform(0.82, 1.12, (n_planks, 3)).astype(np.float32)
    tone = 0.7 * tone + 0.3 * tone.mean(axis=1, keepdims=True)
    phase = rng.uniform(0, 2 * np.pi, n_planks).astype(np.float32)
    end = rng.uniform(0, ww, n_planks).astype(np.float32)
    turb = _value_noise(rng, hh, ww, cell=22, octaves=3, aspect=7.0)
    fine = _value_noise(rng, hh, ww, cell=6, octaves=2, aspect=5.0)
    freq = rng.uniform(0.35, 0.6)
    grain = 0.5 + 0.5 * np.sin(freq * (y + 14.0 * turb) + phase[idx[:, 0]][:, None])
    grain = grain**3
    shade = 0.8 + 0.15 * grain + 0.1 * fine
    img = base[None, None, :] * tone[idx[:, 0]][:, None, :] * shade[..., None]
    seam = ((y + offset) % plank) < 1.6
    endseam = np.abs(x - end[idx[:, 0]][:, None]) < 0.9
    img[np.broadcast_to(seam, (hh, ww)) | endseam] *= 0.5
    if vertical:
        img = img.transpose(1, 0, 2)
    return np.ascontiguousarray(img)


def _bg_tiles(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    tile = rng.uniform(34, 64)
    grout = rng.uniform(1.5, 3.0)
    ox, oy = rng.uniform(0, tile, 2)
    palettes = [
        [(0.86, 0.84, 0.78)],
        [(0.75, 0.42, 0.28)],
        [(0.55, 0.63, 0.70)],
        [(0.90, 0.90, 0.88), (0.30, 0.32, 0.35)],
        [(0.80, 0.72, 0.55), (0.62, 0.50, 0.38)],
    ]
    pal = [np.array(c, np.float32) for c in palettes[rng.integers(len(palettes))]]
    nty, ntx = int(h / tile) + 3, int(w / tile) + 3
    jitter = rng.uniform(0.9, 1.08, (nty, ntx, 1)).astype(np.float32)
    y = np.arange(h, dtype=np.float32)[:, None] + oy
    x = np.arange(w, dtype=np.float32)[None, :] + ox
    iy, ix = (y // tile).astype(np.int64), (x // tile).astype(np.int64)
    fy, fx = y % tile, x % tile
    cols = np.stack(pal)  # (k, 3)
    which = (iy + ix) % len(pal)
    img = cols[which] * jitter[iy, ix]
    speck = _value_noise(rng, h, w, cell=8, octaves=2)
    img *= (0.93 + 0.09 * speck)[..., None]
    # bevel: lighter top-left rim, darker bottom-right rim
    bevel = np.zeros((h, w), np.float32)
    bevel += np.where(fy < grout + 2.0, 0.06, 0.0) + np.where(fx < grout + 2.0, 0.04, 0.0)
    bevel -= np.where(fy > tile - 2.0, 0.07, 0.0) + np.where(fx > tile - 2.0, 0.05, 0.0)
    img *= (1.0 + bevel)[..., None]
    grout_col = np.float32(rng.uniform(0.45, 0.72))
    is_grout = (fy < grout) | (fx < grout)
    img[is_grout] = grout_col * np.array([1.0, 0.98, 0.94], np.float32)
    return img.astype(np.float32)


def _bg_fabric(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    period = rng.uniform(3.5, 5.0)
    weave = np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)
    if rng.random() < 0.6:  # tartan
        cols = _distinct_colours(rng, 3)
        cols.append(np.array([0.92, 0.9, 0.85], np.float32))
        widths = rng.uniform(5, 22, 6)
        bounds = np.cumsum(widths)
        rep = bounds[-1]

        def stripes(t: np.ndarray) -> np.ndarray:
            k = np.searchsorted(bounds, t % rep, side="right") % len(cols)
            return np.stack(cols)[k]

        img = 0.5 * stripes(np.broadcast_to(x, (h, w))) + 0.5 * stripes(np.broadcast_to(y, (h, w)))
        img *= 0.85
    else:  # plain cloth
        img = np.broadcast_to(_random_colour(rng, (0.3, 0.7), (0.45, 0.8)), (h, w, 3)).copy()
    wrinkle = _value_noise(rng, h, w, cell=70, octaves=3)
    img = img * (0.8 + 0.3 * wrinkle)[..., None] * (1.0 + 0.07 * weave)[..., None]
    return img.astype(np.float32)


def _bg_grass(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = _value_noise(rng, h, w, cell=40, octaves=3)
    img = np.stack([0.12 + 0.1 * base, 0.3 + 0.2 * base, 0.08 + 0.06 * base], -1).astype(np.float32)
    n = h * w // 22
    xs = rng.uniform(0, w, n)
    ys = rng.uniform(0, h, n)
    lens = rng.uniform(5, 13, n)
    angs = rng.normal(-np.pi / 2, 0.35, n)
    greens = rng.uniform(0, 1, n)
    for x0, y0, ln, a, g in zip(xs, ys, lens, angs, greens, strict=True):
        x1, y1 = x0 + ln * math.cos(a), y0 + ln * math.sin(a)
        col = (0.15 + 0.35 * g, 0.35 + 0.45 * g, 0.05 + 0.15 * g)
        cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), col, 1, cv2.LINE_AA)
    return img


def _bg_marble(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    tint = np.array([(0.10, 0.10, 0.11), (0.06, 0.12, 0.10), (0.14, 0.10, 0.09)][rng.integers(3)])
    cloud = _value_noise(rng, h, w, cell=60, octaves=4)
    img = tint[None, None, :].astype(np.float32) * (0.7 + 0.8 * cloud)[..., None]
    for strength, freq, power in ((0.75, rng.uniform(0.025, 0.04), 30), (0.35, 0.09, 14)):
        a = rng.uniform(0, np.pi)
        turb = _value_noise(rng, h, w, cell=50, octaves=4)
        t = x * math.cos(a) + y * math.sin(a)
        vein = (1.0 - np.abs(np.sin(t * freq + 7.0 * turb))) ** power
        img += strength * vein[..., None] * np.array([0.85, 0.85, 0.82], np.float32)
    return img.astype(np.float32)


def _bg_confetti(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    hue = _value_noise(rng, h, w, cell=45, octaves=3)
    val = _value_noise(rng, h, w, cell=25, octaves=3)
    hsv = np.stack([360.0 * ((hue * 1.7 + rng.random()) % 1.0), np.full_like(hue, 0.85), 0.45 + 0.5 * val], -1)
    img = cv2.cvtColor(hsv.astype(np.float32), cv2.COLOR_HSV2RGB)
    for _ in range(int(h * w / 900)):  # scattered blobs of colour
        c = _random_colour(rng, (0.7, 1.0), (0.6, 1.0))
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        ax = int(rng.uniform(2, 9))
        cv2.ellipse(img, (cx, cy), (ax, max(1, ax // 2)), float(rng.uniform(0, 180)), 0, 360,
                    tuple(float(v) for v in c), -1, cv2.LINE_AA)
    return img


_BACKGROUND_FUNCS = {
    "wood": _bg_wood,
    "tiles": _bg_tiles,
    "fabric": _bg_fabric,
    "grass": _bg_grass,
    "marble": _bg_marble,
    "confetti": _bg_confetti,
}


def _pick(rng: np.random.Generator, name: str, groups: Mapping[str, Sequence[str]], kind: str) -> str:
    if name in groups:
        options = groups[name]
        return options[int(rng.integers(len(options)))]
    valid = [n for names in groups.values() for n in names]
    if name not in valid:
        raise ValueError(
            f"unknown {kind} {name!r}; use one of {sorted(set(valid))} or a group {sorted(groups)}"
        )
    return name


def render_background(
    name: str, width: int, height: int, seed: np.random.Generator | int | Sequence[int] = 0
) -> np.ndarray:
    """Render a procedural background.

    Args:
        name: One of :data:`BACKGROUNDS` (``"wood"``, ``"tiles"``, ``"fabric"``,
            ``"grass"``, ``"marble"``, ``"confetti"``), or ``"known"`` / ``"shifted"``
            for a random one of that group.
        width: Image width in pixels.
        height: Image height in pixels.
        seed: Seed or generator; the same seed gives the same background.

    Returns:
        ``(height, width, 3)`` float32 RGB in ``[0, 1]`` (before lighting), ready to
        pass to :func:`render_objects`.

    Raises:
        ValueError: ``name`` is not a known background.
    """
    rng = _as_rng(seed)
    groups = {"known": KNOWN_BACKGROUNDS, "shifted": SHIFTED_BACKGROUNDS, "any": BACKGROUNDS}
    name = _pick(rng, name, groups, "background")
    img = _BACKGROUND_FUNCS[name](rng, int(height), int(width))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- objects


def _light_local(light: np.ndarray, angle_deg: float) -> np.ndarray:
    """Light direction (image coords) expressed in the frame of a sprite rotated by angle_deg."""
    a = math.radians(angle_deg)
    lx, ly, lz = light
    return np.array(
        [lx * math.cos(a) - ly * math.sin(a), lx * math.sin(a) + ly * math.cos(a), lz], np.float32
    )


def _specular(nx, ny, nz, light: np.ndarray, power: float) -> np.ndarray:
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    return np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0) ** power


def _sprite_ball(rng, size, light, n, ss, side):
    u, v = _grid(n, ss, side)
    r = size / 2.0
    d2 = (u * u + v * v) / (r * r)
    inside = d2 < 1.0
    nx, ny = u / r, v / r
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # random orientation of the pattern
    tx = q[0, 0] * nx + q[0, 1] * ny + q[0, 2] * nz
    ty = q[1, 0] * nx + q[1, 1] * ny + q[1, 2] * nz
    tz = q[2, 0] * nx + q[2, 1] * ny + q[2, 2] * nz
    cols = _distinct_colours(rng, int(rng.integers(2, 4)))
    cols.append(np.array([0.95, 0.95, 0.93], np.float32))
    palette = np.stack(cols)
    if rng.random() < 0.5:  # stripes along latitude
        nb = int(rng.integers(4, 8))
        band = np.floor((np.arcsin(np.clip(tz, -1, 1)) + np.pi / 2) / (np.pi / nb)).astype(np.int64)
        albedo = palette[band % len(palette)]
    else:  # beach-ball segments with white caps
        ns = 2 * int(rng.integers(2, 4))
        seg = np.floor((np.arctan2(ty, tx) + np.pi) / (2 * np.pi / ns)).astype(np.int64)
        albedo = palette[seg % len(palette)]
        albedo[np.abs(tz) > 0.9] = palette[-1]
    lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0.0, 1.0)
    rgb = albedo * (0.22 + 0.85 * lam)[..., None] + 0.55 * _specular(nx, ny, nz, light, 40)[..., None]
    return rgb, inside


def _sprite_mug(rng, size, light, n, ss, side):
    u, v = _grid(n, ss, side)
    hgt = size * rng.uniform(0.72, 0.88)
    wid = size * rng.uniform(0.52, 0.66)
    cx = -size * 0.1
    e = wid * rng.uniform(0.12, 0.2)
    yt, yb = -hgt / 2 + e, hgt / 2 - e
    xr = (u - cx) / (wid / 2)
    body = ((np.abs(xr) <= 1) & (v >= yt) & (v <= yb)) | (xr**2 + ((v - yb) / e) ** 2 <= 1)
    top = xr**2 + ((v - yt) / e) ** 2 <= 1
    hx, hy = cx + wid / 2, (yt + yb) / 2 + rng.uniform(-0.05, 0.05) * hgt
    ha, hb = size * rng.uniform(0.16, 0.22), hgt * rng.uniform(0.25, 0.32)
    th = size * rng.uniform(0.06, 0.09)
    rho = np.sqrt(((u - hx) / ha) ** 2 + ((v - hy) / hb) ** 2)
    ring_t = (rho - 1.0) * min(ha, hb) / (th / 2)
    handle = (np.abs(ring_t) <= 1) & (u > hx - 0.2 * wid)

    albedo = _random_colour(rng, (0.0, 0.85) if rng.random() < 0.25 else (0.55, 0.9), (0.6, 0.95))
    rgb = np.zeros((n, n, 3), np.float32)
    rgb[:] = albedo
    decor = rng.integers(3)
    other = _random_colour(rng)
    if decor == 0:  # a band around the body
        b0 = rng.uniform(-0.25, 0.1) * hgt
        band = (v > b0) & (v < b0 + hgt * rng.uniform(0.12, 0.22))
        rgb[band] = other
    elif decor == 1:  # polka dots
        pitch = size * 0.14
        du = (u - cx) % pitch - pitch / 2
        dv = v % pitch - pitch / 2
        rgb[(du**2 + dv**2) < (pitch * 0.28) ** 2] = other
    # cylinder shading (normal lies in the horizontal plane)
    nxb = np.clip(xr, -1, 1)
    nzb = np.sqrt(np.clip(1 - nxb**2, 0, 1))
    lam = np.clip(nxb * light[0] + nzb * light[2] * 0.9, 0, 1)
    spec = _specular(nxb, np.zeros_like(nxb), nzb, light, 30)
    shade = (0.3 + 0.75 * lam)[..., None]
    body_rgb = rgb * shade + 0.45 * spec[..., None]
    # handle: shaded tube
    hs = 0.45 + 0.45 * np.sqrt(np.clip(1 - ring_t**2, 0, 1))
    handle_rgb = albedo * hs[..., None] * (0.7 + 0.3 * max(light[0], 0.0))
    out = np.zeros((n, n, 3), np.float32)
    out[handle] = handle_rgb[handle]
    out[body] = body_rgb[body]
    # rim and opening
    out[top] = np.clip(albedo * 1.1 + 0.1, 0, 1)
    inner = xr**2 / 0.86**2 + ((v - yt) / (e * 0.8)) ** 2 <= 1
    depth = np.clip((v - (yt - e)) / (2 * e), 0, 1)
    if rng.random() < 0.5:  # coffee
        coffee = np.array([0.28, 0.15, 0.07], np.float32) * rng.uniform(0.7, 1.2)
        out[inner] = coffee * (0.8 + 0.3 * depth[inner])[:, None]
    else:
        out[inner] = albedo * (0.25 + 0.35 * depth[inner])[:, None]
    return out, body | top | handle


def _sprite_book(rng, size, light, n, ss, side):
    w = size * rng.uniform(0.48, 0.62)
    h = size * rng.uniform(0.68, 0.84)
    d = size * rng.uniform(0.08, 0.15)
    a = math.radians(rng.uniform(30, 60))
    o = np.array([d * math.cos(a), d * math.sin(a)])
    c = -o / 2
    tl, tr = c + [-w / 2, -h / 2], c + [w / 2, -h / 2]
    br, bl = c + [w / 2, h / 2], c + [-w / 2, h / 2]

    def px(points) -> np.ndarray:  # pixel units -> supersampled canvas coords, fixed point (shift 4)
        p = (np.asarray(points, np.float64) + side / 2.0) * ss
        return np.round(p * 16).astype(np.int32).reshape(-1, 1, 2)

    cover_col = _random_colour(rng, (0.45, 0.9), (0.35, 0.85))
    page_col = np.array([0.93, 0.9, 0.8], np.float32) * rng.uniform(0.9, 1.02)
    spine_right = rng.random() < 0.5
    out = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.uint8)
    flat = 0.35 + 0.7 * float(light[2])
    side_r = 0.45 + 0.5 * max(float(light[0]) * 0.9 + float(light[2]) * 0.4, 0.0)
    side_b = 0.45 + 0.5 * max(float(light[1]) * 0.9 + float(light[2]) * 0.4, 0.0)
    faces = [
        ([tr, br, br + o, tr + o], cover_col * 0.75 if spine_right else page_col, side_r),
        ([bl, br, br + o, bl + o], page_col, side_b),
    ]
    for pts, col, shade in faces:
        cv2.fillPoly(out, [px(pts)], tuple(float(x) * shade for x in col), cv2.LINE_8, 4)
        cv2.fillPoly(alpha, [px(pts)], 1, cv2.LINE_8, 4)
    # page lines on page faces
    for k in range(1, 6):
        t = k / 6
        line = (0.78 * page_col * side_b).tolist()
        cv2.polylines(out, [px([bl + o * t, br + o * t])], False, line, max(1, ss // 2), cv2.LINE_8, 4)
        if not spine_right:
            line_r = (0.78 * page_col * side_r).tolist()
            cv2.polylines(out, [px([tr + o * t, br + o * t])], False, line_r, max(1, ss // 2), cv2.LINE_8, 4)
    # cover with a title plate and bands
    cover = [tl, tr, br, bl]
    cv2.fillPoly(out, [px(cover)], tuple(float(x) * flat for x in cover_col), cv2.LINE_8, 4)
    cv2.fillPoly(alpha, [px(cover)], 1, cv2.LINE_8, 4)
    plate_col = (np.array([0.95, 0.92, 0.8]) if rng.random() < 0.6 else _random_colour(rng)) * flat
    py0 = rng.uniform(0.15, 0.3)
    plate = [c + [-w * 0.32, -h / 2 + h * py0], c + [w * 0.32, -h / 2 + h * py0],
             c + [w * 0.32, -h / 2 + h * (py0 + 0.2)], c + [-w * 0.32, -h / 2 + h * (py0 + 0.2)]]
    cv2.fillPoly(out, [px(plate)], plate_col.tolist(), cv2.LINE_8, 4)
    for k in range(2):  # "title" text bars
        yy = -h / 2 + h * (py0 + 0.06 + 0.08 * k)
        half = w * rng.uniform(0.12, 0.25)
        cv2.polylines(out, [px([c + [-half, yy], c + [half, yy]])], False,
                      (0.15 * flat, 0.12 * flat, 0.1 * flat), max(1, ss), cv2.LINE_8, 4)
    band_col = (cover_col * 0.55 * flat).tolist()
    for yy in (h * 0.38, h * 0.43):
        cv2.polylines(out, [px([c + [-w / 2, yy], c + [w / 2, yy]])], False, band_col, ss, cv2.LINE_8, 4)
    # soft highlight across the cover
    uu, vv = _grid(n, ss, side)
    gloss = 0.12 * np.clip(1 - np.abs((uu * light[0] + vv * light[1]) / (0.6 * size) + 0.3), 0, 1)
    out += gloss[..., None] * (alpha[..., None] > 0)
    return out, alpha.astype(bool)


def _sprite_donut(rng, size, light, n, ss, side):
    u, v = _grid(n, ss, side)
    ro = size / 2.0
    ri = ro * rng.uniform(0.3, 0.42)
    rc, a = (ro + ri) / 2, (ro - ri) / 2
    rho = np.sqrt(u * u + v * v) + 1e-6
    t = (rho - rc) / a
    inside = np.abs(t) <= 1
    nr = np.clip(t, -1, 1)
    nz = np.sqrt(np.clip(1 - nr**2, 0, 1))
    nx, ny = nr * u / rho, nr * v / rho
    theta = np.arctan2(v, u)
    dough = np.array([0.78, 0.52, 0.25], np.float32) * rng.uniform(0.85, 1.1)
    icings = [(0.95, 0.55, 0.7), (0.35, 0.2, 0.12), (0.96, 0.94, 0.9), (0.6, 0.35, 0.75)]
    icing = np.array(icings[rng.integers(len(icings))], np.float32)
    k, ph = int(rng.integers(5, 9)), rng.uniform(0, 2 * np.pi)
    edge_o = 0.62 + 0.12 * np.sin(k * theta + ph)
    edge_i = -0.6 + 0.08 * np.sin((k + 2) * theta + ph)
    iced = (t < edge_o) & (t > edge_i)
    albedo = np.where(iced[..., None], icing, dough)
    # sprinkles: short coloured bars on the icing
    spr = np.zeros((n, n, 3), np.float32)
    spr_a = np.zeros((n, n), np.float32)
    for _ in range(int(rng.integers(14, 26))):
        rr = rc + a * rng.uniform(-0.45, 0.45)
        th = rng.uniform(0, 2 * np.pi)
        x0, y0 = (rr * math.cos(th) + side / 2) * ss, (rr * math.sin(th) + side / 2) * ss
        ang, ln = rng.uniform(0, np.pi), size * 0.05 * ss
        p0 = (int(x0 - ln * math.cos(ang)), int(y0 - ln * math.sin(ang)))
        p1 = (int(x0 + ln * math.cos(ang)), int(y0 + ln * math.sin(ang)))
        col = _random_colour(rng, (0.6, 1.0), (0.8, 1.0)).tolist()
        width = max(1, int(size * 0.035 * ss))
        cv2.line(spr, p0, p1, col, width)
        cv2.line(spr_a, p0, p1, 1.0, width)
    use = (spr_a > 0) & iced
    albedo[use] = spr[use]
    lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    gloss = np.where(iced, 0.5, 0.15)
    rgb = albedo * (0.25 + 0.8 * lam)[..., None] + (gloss * _specular(nx, ny, nz, light, 25))[..., None]
    return rgb, inside


_SPRITES = {"ball": _sprite_ball, "mug": _sprite_mug, "book": _sprite_book, "donut": _sprite_donut}


class _Layer:
    """One object rendered into frame coordinates: premultiplied RGB + alpha over a crop."""

    __slots__ = ("label", "x0", "y0", "rgba", "size", "area", "index")

    def __init__(self, label, x0, y0, rgba, size, area, index):
        self.label, self.x0, self.y0, self.rgba = label, x0, y0, rgba
        self.size, self.area, self.index = size, area, index

    def frame_alpha(self, width: int, height: int, dx: int = 0, dy: int = 0) -> np.ndarray:
        """Alpha placed in a ``(height, width)`` frame, optionally shifted by (dx, dy)."""
        out = np.zeros((height, width), np.float32)
        s = self.rgba.shape[0]
        x0, y0 = self.x0 + dx, self.y0 + dy
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + s, width), min(y0 + s, height)
        if fx1 > fx0 and fy1 > fy0:
            out[fy0:fy1, fx0:fx1] = self.rgba[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0, 3]
        return out

    def frame_rgb(self, width: int, height: int) -> np.ndarray:
        out = np.zeros((height, width, 3), np.float32)
        s = self.rgba.shape[0]
        fx0, fy0 = max(self.x0, 0), max(self.y0, 0)
        fx1, fy1 = min(self.x0 + s, width), min(self.y0 + s, height)
        if fx1 > fx0 and fy1 > fy0:
            out[fy0:fy1, fx0:fx1] = self.rgba[fy0 - self.y0 : fy1 - self.y0, fx0 - self.x0 : fx1 - self.x0, :3]
        return out


def _make_layer(obj: Mapping[str, Any], light: np.ndarray, index: int) -> _Layer:
    label = obj["label"]
    if label not in _SPRITES:
        raise ValueError(f"unknown object label {label!r}; use one of {list(_SPRITES)}")
    size = float(obj.get("size", obj.get("scale", 60.0)))
    if not size > 2:
        raise ValueError(f"object size must be > 2 pixels, got {size!r}")
    angle = float(obj.get("angle", 0.0))
    x, y = float(obj["x"]), float(obj["y"])
    ss = _SUPERSAMPLE
    side = int(math.ceil(size * 1.6)) + 4
    n = side * ss
    rgb, hard = _SPRITES[label](np.random.default_rng(obj.get("seed", 0)), size, _light_local(light, angle), n, ss, side)
    a = hard.astype(np.float32)
    stack = np.concatenate([np.clip(rgb, 0, 1) * a[..., None], a[..., None]], -1).astype(np.float32)
    left, top = x - side / 2.0, y - side / 2.0
    x0, y0 = math.floor(left), math.floor(top)
    m = cv2.getRotationMatrix2D(((n - 1) / 2.0, (n - 1) / 2.0), angle, 1.0)
    m[0, 2] += (left - x0) * ss
    m[1, 2] += (top - y0) * ss
    stack = cv2.warpAffine(stack, m, (n, n), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    rgba = cv2.resize(stack, (side, side), interpolation=cv2.INTER_AREA)
    area = int((rgba[..., 3] >= 0.5).sum())
    return _Layer(label, x0, y0, rgba, size, area, index)


def _scene_light(rng: np.random.Generator, light_angle: float | None = None) -> np.ndarray:
    ang = rng.uniform(0, 2 * np.pi) if light_angle is None else float(light_angle)
    lz = rng.uniform(0.5, 0.8)
    r = math.sqrt(1 - lz * lz)
    return np.array([r * math.cos(ang), r * math.sin(ang), lz], np.float32)


def _apply_lighting(img: np.ndarray, rng: np.random.Generator, lighting: str, light: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    y = (np.arange(h, dtype=np.float32)[:, None] - h / 2) / max(h, w)
    x = (np.arange(w, dtype=np.float32)[None, :] - w / 2) / max(h, w)
    lxy = light[:2] / max(float(np.linalg.norm(light[:2])), 1e-6)
    proj = x * lxy[0] + y * lxy[1]  # > 0 towards the light
    grad = rng.uniform(0.25, 0.6)
    gain = 1.0 + grad * proj
    tint = 1.0 + rng.uniform(-0.04, 0.04, 3).astype(np.float32)
    sigma = 0.012
    if lighting == "normal":
        gain = gain * rng.uniform(0.92, 1.1)
    elif lighting == "dim":
        gain = gain * rng.uniform(0.3, 0.45)
        tint = tint * np.array([0.9, 0.95, 1.1], np.float32)
        sigma = 0.025
    elif lighting == "cast":
        casts = [(1.25, 0.92, 0.55), (0.6, 0.85, 1.3), (0.8, 1.2, 0.65), (1.25, 0.7, 1.1)]
        tint = np.array(casts[rng.integers(len(casts))], np.float32) * rng.uniform(0.9, 1.05)
    elif lighting == "vignette":
        cx, cy = rng.uniform(-0.15, 0.15, 2)
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / 0.25
        gain = gain * np.clip(1.15 - rng.uniform(0.75, 0.95) * r2, 0.08, None)
    else:  # validated by the caller
        raise ValueError(f"unknown lighting {lighting!r}")
    out = img * gain[..., None] * tint
    out = out + rng.normal(0.0, sigma, out.shape).astype(np.float32)
    return np.clip(np.round(np.clip(out, 0, 1) * 255.0), 0, 255).astype(np.uint8)


def _composite(
    bg: np.ndarray, layers: Sequence[_Layer], light: np.ndarray, rng: np.random.Generator,
    lighting: str, min_visible: float, min_area: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    h, w = bg.shape[:2]
    canvas = bg.astype(np.float32).copy()
    lxy = light[:2] / max(float(np.linalg.norm(light[:2])), 1e-6)
    cot = math.sqrt(max(1 - light[2] ** 2, 0.0)) / max(float(light[2]), 0.1)
    full_masks = []
    for layer in layers:
        s = layer.size
        for frac, blur, strength in ((0.25, 0.02, 0.3), (1.0, 0.07, 0.35)):  # contact + cast shadow
            dx, dy = (-lxy * s * 0.12 * cot * frac).round().astype(int)
            shadow = layer.frame_alpha(w, h, int(dx), int(dy))
            sigma = max(blur * s, 0.8)
            shadow = cv2.GaussianBlur(shadow, (0, 0), sigma)
            canvas *= (1.0 - strength * shadow)[..., None]
        a = layer.frame_alpha(w, h)
        canvas = canvas * (1.0 - a[..., None]) + layer.frame_rgb(w, h)
        full_masks.append(a >= 0.5)
    image = _apply_lighting(canvas, rng, lighting, light)
    objects: list[dict[str, Any]] = []
    covered = np.zeros((h, w), bool)
    for layer, full in zip(reversed(layers), reversed(full_masks), strict=True):
        visible = full & ~covered
        covered |= full
        n_vis = int(visible.sum())
        if n_vis < min_area or n_vis < min_visible * max(layer.area, 1):
            continue
        objects.append(dict(label=layer.label, mask=visible, object=layer.index))
    objects.reverse()
    return image, objects


def render_objects(
    background: np.ndarray | str,
    objects: Sequence[Mapping[str, Any]],
    *,
    width: int | None = None,
    height: int | None = None,
    lighting: str = "normal",
    light_angle: float | None = None,
    seed: np.random.Generator | int | Sequence[int] = 0,
    min_visible: float = 0.4,
    min_area: int = 40,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Render explicitly placed objects over a background (the building block for video).

    Args:
        background: A ``(H, W, 3)`` array (float in ``[0, 1]`` as returned by
            :func:`render_background`, or uint8), or a background name (then
            ``width``/``height`` are required and ``seed`` picks the texture).
        objects: Back-to-front list of dicts with keys ``label`` (one of
            :data:`ALL_CLASSES`), ``x``, ``y`` (centre, pixels), ``size`` (nominal
            extent in pixels; ``scale`` is accepted as an alias), ``angle``
            (degrees, counter-clockwise as displayed; default 0) and ``seed``
            (appearance: colours, pattern; default 0). Keep ``seed`` fixed to keep
            an object's look across video frames.
        width: Image width, only when ``background`` is a name.
        height: Image height, only when ``background`` is a name.
        lighting: One of :data:`LIGHTING` (``"normal"``, ``"dim"``, ``"cast"``,
            ``"vignette"``).
        light_angle: Direction towards the light in the image plane (radians,
            ``0`` = to the right, ``pi/2`` = down); shading and shadows follow it.
            ``None`` draws it from ``seed``.
        seed: Seed or generator for lighting parameters and sensor noise (and the
            background when it is a name). The same seed and inputs give the same
            output.
        min_visible: Drop an instance whose visible area is below this fraction of
            its full (unoccluded, untruncated) area.
        min_area: Drop an instance with fewer visible pixels than this.

    Returns:
        ``(image, instances)``: ``image`` is ``(H, W, 3)`` uint8 RGB; ``instances``
        is a back-to-front list of dicts ``label`` (str), ``mask`` (``(H, W)`` bool,
        the visible pixels; masks never overlap) and ``object`` (index into
        ``objects``, to track identities across frames).

    Raises:
        ValueError: Unknown label, lighting or background, or a missing size.
    """
    rng = _as_rng(seed)
    if isinstance(background, str):
        if width is None or height is None:
            raise ValueError("width and height are required when background is a name")
        bg = render_background(background, width, height, rng)
    else:
        bg = np.asarray(background)
        if bg.ndim != 3 or bg.shape[2] != 3:
            raise ValueError(f"background must be an (H, W, 3) array, got shape {bg.shape}")
        bg = bg.astype(np.float32) / 255.0 if bg.dtype == np.uint8 else bg.astype(np.float32)
    if lighting not in LIGHTING:
        raise ValueError(f"unknown lighting {lighting!r}; use one of {list(LIGHTING)}")
    light = _scene_light(rng, light_angle)
    layers = [_make_layer(obj, light, i) for i, obj in enumerate(objects)]
    return _composite(bg, layers, light, rng, lighting, min_visible, min_area)


def render_scene(
    rng_or_seed: np.random.Generator | int | Sequence[int],
    width: int = 320,
    height: int = 240,
    classes: Sequence[str] = KNOWN_CLASSES,
    background: str = "known",
    lighting: str = "known",
    n_objects: tuple[int, int] = (2, 6),
    must_include: Sequence[str] = (),
    size_range: tuple[float, float] = (0.13, 0.42),
    min_visible: float = 0.4,
    min_area: int = 40,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Render one random scene: a few objects with occlusion on a textured background.

    Placement is rejection-sampled so that each object keeps at least 60 % of its
    area visible (and at most ~15 % outside the frame); the final
    ``min_visible``/``min_area`` filter of :func:`render_objects` still applies.

    Args:
        rng_or_seed: Seed (int or sequence of ints) or ``np.random.Generator``.
        width: Image width in pixels.
        height: Image height in pixels.
        classes: Labels to draw objects from (subset of :data:`ALL_CLASSES`).
        background: A background name, ``"known"`` or ``"shifted"`` (random from the group).
        lighting: A lighting name, ``"known"`` or ``"shifted"`` (random from the group).
        n_objects: Inclusive range of the number of objects to place.
        must_include: Labels placed at least once (e.g. the new class).
        size_range: Object size range as fractions of ``min(width, height)``
            (log-uniform), before a per-class factor.
        min_visible: See :func:`render_objects`.
        min_area: See :func:`render_objects`.

    Returns:
        ``(image, instances)`` as :func:`render_objects`; each instance also has
        ``placement`` (the dict passed to :func:`render_objects`).

    Raises:
        ValueError: Unknown class, background or lighting.
    """
    rng = _as_rng(rng_or_seed)
    for c in list(classes) + list(must_include):
        if c not in _SPRITES:
            raise ValueError(f"unknown class {c!r}; use labels from {list(ALL_CLASSES)}")
    light_name = _pick(rng, lighting, {"known": KNOWN_LIGHTING, "shifted": SHIFTED_LIGHTING}, "lighting")
    bg = render_background(background, width, height, rng)
    light_angle = rng.uniform(0, 2 * np.pi)
    light = _scene_light(np.random.default_rng(rng.integers(2**32)), light_angle)
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    labels = list(must_include) + [classes[int(rng.integers(len(classes)))] for _ in range(max(n - len(must_include), 0))]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    short = min(width, height)
    lo, hi = math.log(size_range[0] * short), math.log(size_range[1] * short)
    placements: list[dict[str, Any]] = []
    layers: list[_Layer] = []
    visible: list[np.ndarray] = []
    for label in labels:
        for _attempt in range(40):
            size = math.exp(rng.uniform(lo, hi)) * _CLASS_SCALE[label]
            angle = rng.uniform(-35, 35) if label == "mug" else rng.uniform(-180, 180)
            obj = dict(label=label, x=rng.uniform(0.04, 0.96) * width, y=rng.uniform(0.04, 0.96) * height,
                       size=round(size, 2), angle=round(angle, 2), seed=int(rng.integers(2**31)))
            layer = _make_layer(obj, light, len(layers))
            mask = layer.frame_alpha(width, height) >= 0.5
            if mask.sum() < 0.85 * layer.area:
                continue
            if any((v & ~mask).sum() < 0.6 * lay.area for v, lay in zip(visible, layers, strict=True)):
                continue
            visible = [v & ~mask for v in visible] + [mask]
            layers.append(layer)
            placements.append(obj)
            break
    image, objects = _composite(bg, layers, light, rng, light_name, min_visible, min_area)
    for o in objects:
        o["placement"] = placements[o["object"]]
    return image, objects


# --------------------------------------------------------------------------- COCO splits


def to_coco_annotations(
    objects: Sequence[Mapping[str, Any]], image_id: int, first_ann_id: int
) -> list[dict[str, Any]]:
    """COCO instance annotations (RLE, counts as str) for the instances of one image.

    Args:
        objects: Instances as returned by :func:`render_scene` (``label``, ``mask``).
        image_id: COCO image id.
        first_ann_id: Id of the first annotation; the next ones count up.

    Returns:
        List of dicts with ``id``, ``image_id``, ``category_id`` (from
        :data:`CATEGORY_IDS`), ``segmentation`` (RLE), ``area``, ``bbox`` (COCO
        absolute ``[x, y, w, h]``) and ``iscrowd`` (0).
    """
    from pycocotools import mask as mask_util

    anns = []
    for k, obj in enumerate(objects):
        rle = mask_util.encode(np.asfortranarray(np.asarray(obj["mask"], dtype=np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        anns.append(
            dict(
                id=first_ann_id + k,
                image_id=image_id,
                category_id=CATEGORY_IDS[obj["label"]],
                segmentation=rle,
                area=float(mask_util.area(rle)),
                bbox=[float(v) for v in mask_util.toBbox(rle)],
                iscrowd=0,
            )
        )
    return anns


def write_split(
    out_dir: str | Path,
    n_images: int,
    seed: int,
    variant: str = "known",
    width: int = 320,
    height: int = 240,
    quality: int = 90,
) -> Path:
    """Render a split to ``out_dir/images/NNNNNN.jpg`` and ``out_dir/annotations.json`` (COCO).

    Image ``i`` is rendered from ``np.random.default_rng([seed, i])``, so splits are
    reproducible and a longer split starts with the images of a shorter one. Old
    ``*.jpg`` files in ``out_dir/images`` are removed first.

    Args:
        out_dir: Split folder (created if missing).
        n_images: Number of images.
        seed: Split seed.
        variant: ``"known"`` (ball/mug/book on wood/tiles/fabric, normal light),
            ``"shifted-background"`` (same classes on grass/marble/confetti under
            dim/colour-cast/vignette light) or ``"shifted-newclass"`` (known scenes,
            every image also has a ``"donut"``); see :data:`VARIANTS`.
        width: Image width in pixels.
        height: Image height in pixels.
        quality: JPEG quality.

    Returns:
        Path of the written ``annotations.json``. Its ``images[].file_name`` is
        relative to ``out_dir/images`` (``"000000.jpg"``); ``categories`` lists
        the variant's classes with the ids of :data:`CATEGORY_IDS`.

    Raises:
        ValueError: Unknown variant or ``n_images < 0``.
    """
    from PIL import Image

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {list(VARIANTS)}")
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    settings = VARIANTS[variant]
    out = Path(out_dir)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for old in img_dir.glob("*.jpg"):
        old.unlink()
    images, annotations = [], []
    for i in range(n_images):
        image, objects = render_scene(np.random.default_rng([seed, i]), width, height, **settings)
        name = f"{i:06d}.jpg"
        Image.fromarray(image).save(img_dir / name, quality=quality, optimize=True)
        images.append(dict(id=i + 1, file_name=name, width=width, height=height))
        annotations += to_coco_annotations(objects, i + 1, len(annotations) + 1)
    categories = [
        dict(id=CATEGORY_IDS[c], name=c, supercategory="object")
        for c in ALL_CLASSES
        if c in settings["classes"]
    ]
    coco = dict(
        info=dict(
            description=f"labelkit synthetic scenes, variant {variant!r}",
            generator="labelkit.synth.write_split",
            variant=variant,
            seed=seed,
        ),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=categories,
    )
    path = out / "annotations.json"
    path.write_text(json.dumps(coco, separators=(",", ":")))
    return path
