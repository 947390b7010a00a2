"""Drawing the backgrounds `video_look.plan_background` plans: flat colours, gradients, value
noise textures, stripes and checkers, and procedural clutter, each with an optional static
grain. A background is drawn once per clip (the camera jitter moves a window over it)."""

from __future__ import annotations

import math

import numpy as np

from avseq.errors import AvseqError


def _upsample_matrix(cells: int, side: int) -> np.ndarray:
    """(side, cells) linear interpolation weights from a coarse grid to pixel centres."""
    pos = ((np.arange(side) + 0.5) / side) * (cells - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, cells - 2)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((side, cells), np.float32)
    m[np.arange(side), lo] = 1 - frac
    m[np.arange(side), lo + 1] = frac
    return m


def _value_noise(rng: np.random.Generator, cells: int, h: int, w: int) -> np.ndarray:
    """(h, w) smooth noise of unit scale: a coarse Gaussian grid, bilinearly upsampled."""
    gw = max(2, round(cells * w / min(h, w)))
    gh = max(2, round(cells * h / min(h, w)))
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return _upsample_matrix(gh, h) @ coarse @ _upsample_matrix(gw, w).T


def _coords(h: int, w: int, unit: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in units of the short side, centred on the frame."""
    x = ((np.arange(w, dtype=np.float32) + 0.5) - w / 2) / unit
    y = ((np.arange(h, dtype=np.float32) + 0.5) - h / 2) / unit
    return x[None, :], y[:, None]


def _mix(a, b, t: np.ndarray) -> np.ndarray:
    """(h, w, 3) blend from colour `a` (t = 0) to colour `b` (t = 1)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a + (b - a) * np.clip(t, 0, 1)[..., None]


def _clutter(rng: np.random.Generator, bg: dict, h: int, w: int, unit: int) -> np.ndarray:
    """Soft-edged ellipses, boxes and lines in colours near the base colour."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.asarray(bg["rgb"], np.float32)
    img += (_value_noise(rng, 3, h, w) * 8)[..., None]
    x, y = _coords(h, w, unit)
    for _ in range(bg["items"]):
        colour = np.asarray(bg["rgb"], np.float32) + rng.uniform(-1, 1, 3) * bg["spread"]
        cx, cy = rng.uniform(-0.5, 0.5) * w / unit, rng.uniform(-0.5, 0.5) * h / unit
        angle = rng.uniform(0, math.pi)
        c, s = math.cos(angle), math.sin(angle)
        u, v = (x - cx) * c + (y - cy) * s, (y - cy) * c - (x - cx) * s
        kind = rng.integers(3)
        if kind == 0:  # ellipse
            a, b = rng.uniform(0.15, 0.6, 2)
            sd = (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * min(a, b)
        elif kind == 1:  # box
            a, b = rng.uniform(0.1, 0.5, 2)
            sd = np.maximum(np.abs(u) - a, np.abs(v) - b)
        else:  # a thin line across the frame
            sd = np.abs(v) - rng.uniform(0.01, 0.04)
        soft = rng.uniform(0.01, 0.08)
        alpha = np.clip(0.5 - sd / soft, 0, 1)[..., None] * rng.uniform(0.5, 1.0)
        img += (colour - img) * alpha
    return img


def draw_background(rng: np.random.Generator, bg: dict, h: int, w: int, unit: int) -> np.ndarray:
    """The (h, w, 3) float32 background (values 0-255) a plan describes.

    `unit` is the short side of the clip's frame in pixels (the unit of periods and sizes).
    """
    kind = bg["kind"]
    x, y = _coords(h, w, unit)
    if kind == "flat":
        img = np.empty((h, w, 3), np.float32)
        img[:] = np.asarray(bg["rgb"], np.float32)
    elif kind == "gradient":
        if bg["radial"]:
            t = np.sqrt(x * x + y * y) / (0.5 * math.hypot(w, h) / unit)
        else:
            c, s = math.cos(bg["angle"]), math.sin(bg["angle"])
            reach = 0.5 * (abs(c) * w + abs(s) * h) / unit
            t = ((x * c + y * s) / reach + 1) / 2
        img = _mix(bg["rgb"], bg["rgb2"], t)
    elif kind == "texture":
        noise = _value_noise(rng, bg["cells"], h, w) + 0.35 * _value_noise(rng, 11, h, w)
        tint = 1 + rng.uniform(-0.1, 0.1, 3).astype(np.float32)
        img = np.asarray(bg["rgb"], np.float32) + (noise * bg["amp"])[..., None] * tint
    elif kind == "stripes":
        c, s = math.cos(bg["angle"]), math.sin(bg["angle"])
        phase = rng.uniform(0, 2 * math.pi)
        wave = np.sin(2 * math.pi * (x * c + y * s) / bg["period"] + phase)
        if bg["checker"]:
            wave = wave * np.sin(2 * math.pi * (y * c - x * s) / bg["period"] + phase)
            wave = np.sign(wave) * np.minimum(1, np.abs(wave) * 4)
        img = _mix(bg["rgb"], bg["rgb2"], (wave + 1) / 2)
    elif kind == "clutter":
        img = _clutter(rng, bg, h, w, unit)
    else:
        raise AvseqError(f"video corpus: unknown background kind {kind!r}")
    if bg["grain"] > 0:
        img = img + rng.standard_normal((h, w, 1), dtype=np.float32) * bg["grain"]
    return np.clip(img, 0, 255).astype(np.float32)
