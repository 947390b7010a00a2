"""Drawing the built-in action clips: a planned clip (see `video_plan.plan_clip`) in, frames out.

Each frame is a background (`video_background`), optionally shaken by a pixel of camera jitter,
with 2-D shapes (circle, square, triangle, star, cross) composited on it from their signed
distance fields: filled, shaded or outlined, anti-aliased or hard-edged, sometimes with a darker
rim; then per-frame Gaussian pixel noise. Frames may be any even width and height; positions and
sizes are in units of the short side. All randomness comes from the job's `seed`, so rendering
is a pure function of the job.
"""

from __future__ import annotations

import math

import numpy as np

from avseq.data.synth.video_background import draw_background
from avseq.errors import AvseqError
from avseq.text.video_language import SHAPES

# shape geometry in units of the object's nominal radius r: the shapes have similar areas;
# EXTENT is the farthest a shape reaches from its centre in any orientation
_SQUARE_HALF = 0.85
_TRIANGLE_R = 1.35
_STAR_R, _STAR_INNER = 1.3, 0.48
_CROSS_ARM, _CROSS_HALF_WIDTH = 1.05, 0.36
EXTENT = {
    "circle": 1.0,
    "square": _SQUARE_HALF * math.sqrt(2),
    "triangle": _TRIANGLE_R,
    "star": _STAR_R,
    "cross": math.hypot(_CROSS_ARM, _CROSS_HALF_WIDTH),
}


def _trajectory(obj: dict, num_frames: int, unit: int) -> tuple[np.ndarray, ...]:
    """Per-frame centre x, y and radius (pixels), angle (radians) and opacity, each (T,);
    `unit` is the frame's short side in pixels."""
    u = np.arange(num_frames, dtype=np.float64) / (num_frames - 1)
    x = (obj["x"] + obj["dx"] * u) * unit
    y = obj["y"] + obj["dy"] * u
    if obj["bounce"]:
        k, amp = obj["bounce"]
        y = y - amp * np.abs(np.sin(np.pi * k * u))
    y = y * unit
    r = obj["radius"] * unit * np.exp(obj["log_scale"] * (u - 0.5))
    angle = obj["angle"] + obj["spin"] * u
    opacity = np.ones(num_frames)
    if obj["fade"]:
        start, length = obj["fade"]
        v = u if obj["action"] == "appear" else 1 - u
        opacity = (v >= start).astype(np.float64) if length < 1e-6 else (v - start) / length
        opacity = np.clip(opacity, 0, 1)
    return x, y, r, angle, opacity


# Signed distances (negative inside, in pixels) of shapes centred at the origin, on arrays of
# object coordinates. Anti-aliasing only needs them exact within about a pixel of the outline.
# They avoid atan2, hypot, mod and where, which are slow in numpy next to plain arithmetic.

_SIN60 = math.sqrt(3) / 2
_K1 = (math.cos(math.pi / 5), -math.sin(math.pi / 5))


def _length(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(x * x + y * y)


def _sd_box(qx: np.ndarray, qy: np.ndarray, hx, hy) -> np.ndarray:
    dx, dy = np.abs(qx) - hx, np.abs(qy) - hy
    outside = _length(np.clip(dx, 0, None), np.clip(dy, 0, None))
    return outside + np.clip(np.maximum(dx, dy), None, 0)


def _sd_triangle(qx: np.ndarray, qy: np.ndarray, outer) -> np.ndarray:
    """Equilateral triangle with circumradius `outer` and a tip along +x (as the maximum of
    the three edges' half-plane distances: exact inside, a mitred corner outside)."""
    return np.maximum(-qx, 0.5 * qx + _SIN60 * np.abs(qy)) - 0.5 * outer


def _sd_star(qx: np.ndarray, qy: np.ndarray, outer, ratio: float) -> np.ndarray:
    """Five-pointed star with tip radius `outer`, valley radius `ratio * outer`, a tip along
    +y (after Inigo Quilez's sdStar5: two reflections fold the plane onto one edge)."""
    kx, ky = _K1
    px, py = np.abs(qx), qy
    c = np.clip(kx * px + ky * py, 0, None) * 2
    px, py = px - c * kx, py - c * ky
    c = np.clip(ky * py - kx * px, 0, None) * 2
    px, py = np.abs(px + c * kx), py - c * ky - outer
    bx, by = ratio * -ky, ratio * kx - 1  # tip -> valley, per unit of `outer`
    h = np.clip((px * bx + py * by) * (1 / (bx * bx + by * by)), 0, outer)
    dist = _length(px - bx * h, py - by * h)
    return np.copysign(dist, py * bx - px * by)


def _signed_distance(shape: str, qx: np.ndarray, qy: np.ndarray, r: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return _length(qx, qy) - r
    if shape == "square":
        return _sd_box(qx, qy, _SQUARE_HALF * r, _SQUARE_HALF * r)
    if shape == "triangle":
        return _sd_triangle(qx, qy, _TRIANGLE_R * r)
    if shape == "star":
        return _sd_star(qx, qy, _STAR_R * r, _STAR_INNER)
    if shape == "cross":
        arm, half = _CROSS_ARM * r, _CROSS_HALF_WIDTH * r
        return np.minimum(_sd_box(qx, qy, arm, half), _sd_box(qx, qy, half, arm))
    raise AvseqError(f"video corpus: unknown shape {shape!r}, expected one of {SHAPES}")


def _style_layers(obj: dict, sd: np.ndarray, qx, qy, r: np.ndarray) -> tuple:
    """(alpha, brightness factor or None) of an object's pixels, from its signed distance and
    drawing style (see `video_look.plan_style`); both (V, W, W) float32."""
    style = obj.get("style") or {"fill": "solid", "hard": False, "shade": None, "rim": None}
    d = sd
    if style["fill"] == "outline":
        half = np.maximum(style["line"], style["line_fraction"] * r) / 2
        d = np.abs(sd) - half
    alpha = (d < 0).astype(np.float32) if style["hard"] else np.clip(0.5 - d, 0, 1)
    factor = None
    if style["shade"]:
        gx, gy, amount = style["shade"]
        ramp = (qx * gx + qy * gy) / (EXTENT[obj["shape"]] * r)
        factor = 1 + np.float32(amount) * np.clip(ramp, -1, 1)
    if style["rim"]:
        darker, width = style["rim"]
        inner = sd + np.float32(width)
        rim = (inner > 0).astype(np.float32) if style["hard"] else np.clip(0.5 + inner, 0, 1)
        rim = 1 - rim * np.float32(1 - darker)
        factor = rim if factor is None else factor * rim
    return alpha, factor


def _draw(frames: np.ndarray, obj: dict, shift: np.ndarray, unit: int) -> None:
    """Composites an object onto (T, H, W, 3) float32 frames in place.

    `shift` is the (T, 2) camera offset (x, y) of each frame, in pixels; `unit` the frame's
    short side in pixels.
    """
    num_frames, height, fwidth = frames.shape[:3]
    x, y, r, angle, opacity = _trajectory(obj, num_frames, unit)
    visible = np.flatnonzero(opacity > 0)  # the V frames where the object shows
    if visible.size == 0:
        return
    x, y = x[visible] - shift[visible, 0], y[visible] - shift[visible, 1]  # camera moved
    r, angle, opacity = r[visible], angle[visible], opacity[visible]
    half = math.ceil(EXTENT[obj["shape"]] * r.max() + 2)
    width = 2 * half + 2
    x0 = np.floor(x).astype(int) - half
    y0 = np.floor(y).astype(int) - half
    offsets = np.arange(width, dtype=np.float32) + 0.5  # pixel centres
    dx = (x0 - x).astype(np.float32)[:, None, None] + offsets[None, None, :]  # (V, 1, W)
    dy = (y0 - y).astype(np.float32)[:, None, None] + offsets[None, :, None]  # (V, W, 1)
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    # object coordinates: rotate back by the angle (clockwise on screen = increasing angle,
    # since image y points down)
    qx, qy = dx * cos + dy * sin, dy * cos - dx * sin  # (V, W, W)
    r3 = r.astype(np.float32)[:, None, None]
    sd = _signed_distance(obj["shape"], qx, qy, r3)
    alpha, factor = _style_layers(obj, sd, qx, qy, r3)
    alpha = alpha * opacity.astype(np.float32)[:, None, None]
    # composite on (T, H, 3W) rows, whose contiguous slices update faster than (h, w, 3)
    # views; colour = under * (1 - alpha) + rgb * alpha
    alpha = np.repeat(alpha, 3, axis=2)  # (V, W, 3W)
    rgb = np.tile(np.asarray(obj["rgb"], np.float32), width)
    if factor is None:
        paint = alpha * (rgb + 0.5)  # see render_clip
    else:
        paint = alpha * (np.minimum(np.repeat(factor, 3, axis=2) * rgb, 255) + 0.5)
    keep = 1 - alpha
    rows = frames.reshape(num_frames, height, 3 * fwidth)
    for i, t in enumerate(visible):
        fx0, fy0 = max(x0[i], 0), max(y0[i], 0)
        fx1, fy1 = min(x0[i] + width, fwidth), min(y0[i] + width, height)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        box = (slice(fy0 - y0[i], fy1 - y0[i]), slice(3 * (fx0 - x0[i]), 3 * (fx1 - x0[i])))
        region = rows[t, fy0:fy1, 3 * fx0 : 3 * fx1]
        region *= keep[i][box]
        region += paint[i][box]


_NOISE_BANK: list[np.ndarray] = []


def _noise_bank() -> np.ndarray:
    """2^20 standard normal samples, the same in every process (random windows of it are
    much cheaper than fresh samples for every pixel of every frame)."""
    if not _NOISE_BANK:
        _NOISE_BANK.append(np.random.default_rng(20240611).standard_normal(1 << 20, np.float32))
    return _NOISE_BANK[0]


def render_clip(job: dict) -> tuple[np.ndarray, float]:
    """Renders a planned clip: returns (T, H, W, 3) uint8 RGB frames and the frame rate.

    A pure function of `job` (see `plan_clip`): the same job gives the same frames.
    """
    num_frames, jitter, unit = job["num_frames"], job["jitter"], job["size"]
    width, height = job.get("width", unit), job.get("height", unit)
    rng = np.random.default_rng(job["seed"])
    background = draw_background(
        rng, job["background"], height + 2 * jitter, width + 2 * jitter, unit
    )
    shift = rng.integers(-jitter, jitter + 1, size=(num_frames, 2))
    # all colours carry +0.5 so that truncating to uint8 at the end rounds (alpha blending and
    # zero-mean noise keep the offset)
    background += 0.5
    frames = np.empty((num_frames, height, width, 3), np.float32)
    for t, (sx, sy) in enumerate(shift + jitter):
        frames[t] = background[sy : sy + height, sx : sx + width]
    objects = [job["main"]]
    if job["distractor"] is not None:
        objects.insert(len(objects) if job["distractor_on_top"] else 0, job["distractor"])
    for obj in objects:
        _draw(frames, obj, shift, unit)
    if job["noise"] > 0:  # per-frame Gaussian noise: random windows of a fixed noise bank
        bank = _noise_bank()
        n = frames[0].size
        sigma = np.float32(job["noise"])
        for t in range(num_frames):
            if n < bank.size:
                start = int(rng.integers(0, bank.size - n))
                noise = bank[start : start + n].reshape(frames.shape[1:])
            else:
                noise = rng.standard_normal(frames.shape[1:], dtype=np.float32)
            frames[t] += noise * sigma
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8), float(job["fps"])
