"""The built-in action-clip corpus: short MP4 clips of 2-D shapes performing actions.

Each clip shows one main object (a coloured shape) doing one of twelve actions on a dark
textured background, sometimes with a smaller distractor object doing something else.
Ten of the twelve classes come in time-reversed pairs (move left / move right, appear /
disappear, ...) whose clips differ only in frame order, so a model has to use temporal order
to tell them apart; `reverse_job` turns a clip's recipe into its exact time reverse.

A deterministic tenth of the (colour, shape, action) combinations never occurs as the main
object of train, val or test clips; the `test_comp` split consists only of them (a
compositional generalisation test). Every clip has several English reference captions.

Layout of a corpus folder (`root/<name>-<hash>/`):
    clips/<split>/<video_id>.mp4        H.264, yuv420p
    train.txt val.txt test.txt test_comp.txt   lines "clips/<split>/<video_id>.mp4 <label>"
    classes.txt                         one class name per line, in label order
    captions.json                       MSR-VTT style {"info", "videos", "sentences"}
    corpus.json                         settings and statistics, written last
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import av
import numpy as np
from rich.progress import Progress

from avseq.errors import AvseqError
from avseq.text.video_language import (
    ACTIONS,
    CAPTIONS_PER_CLIP,
    COLOURS,
    REVERSED_ACTION,
    SHAPES,
    captions_for,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # part of the corpus hash: bump when generation changes its output

COMPOSITIONAL_SPLIT = "test_comp"  # held-out colour-shape-action combinations only
SPLITS = ("train", "val", "test", COMPOSITIONAL_SPLIT)
FPS_CHOICES = (10, 12, 15, 20, 24, 25, 30)
DISTRACTOR_ACTIONS = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_clockwise",
    "rotate_counterclockwise",
    "bounce",
    "stay",
)
HOLD_OUT_FRACTION = 0.1
MIN_FRAMES = 16
MAX_JITTER = 1  # camera shake, pixels (a 2-pixel shake drowned slow rotations at 64 px)

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


@dataclass
class VideoCorpusSpec:
    """Settings of the built-in action-clip corpus; the output folder is named after a hash.

    Args:
        root: parent folder; the corpus goes to `root/<name>-<hash>/`.
        name: first part of the corpus folder's name.
        seed: all random choices derive from it (same seed, same corpus).
        n_train, n_val, n_test: clips per split (classes balanced within each).
        n_comp: clips of the `test_comp` split (held-out colour-shape-action combinations).
        size: frame width and height in pixels (even, at least 32).
        workers: parallel rendering processes (not part of the hash).
    """

    root: str = "data"
    name: str = "actions"
    seed: int = 0
    n_train: int = 6000
    n_val: int = 600
    n_test: int = 1200
    n_comp: int = 600
    size: int = 96
    workers: int = 2

    def __post_init__(self) -> None:
        for key in ("n_train", "n_val", "n_test", "n_comp", "workers"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AvseqError(f"video corpus: {key} must be a positive integer, got {value!r}")
        size = self.size
        if not isinstance(size, int) or isinstance(size, bool) or size < 32 or size % 2:
            raise AvseqError(f"video corpus: size must be an even integer >= 32, got {size!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise AvseqError(f"video corpus: seed must be an integer, got {self.seed!r}")
        if not self.name or "/" in self.name or "\\" in self.name or self.name.startswith("."):
            raise AvseqError(f"video corpus: name must be a plain folder name, got {self.name!r}")

    def settings(self) -> dict:
        d = asdict(self)
        d.pop("root")
        d.pop("workers")
        d["generator"] = GENERATOR_VERSION
        return d

    @property
    def path(self) -> Path:
        digest = hashlib.sha1(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()
        return Path(self.root) / f"{self.name}-{digest[:8]}"

    def annotations(self, split: str) -> Path:
        """The `<split>.txt` annotation file (lines "clips/<split>/<id>.mp4 <label>")."""
        if split not in SPLITS:
            raise AvseqError(f"video corpus: unknown split {split!r}, expected one of {SPLITS}")
        return self.path / f"{split}.txt"

    @property
    def classes(self) -> Path:
        return self.path / "classes.txt"

    @property
    def captions(self) -> Path:
        return self.path / "captions.json"


# ---------------------------------------------------------------------------------------------
# combinations and the compositional hold-out


def valid_combos() -> list[tuple[str, str, str]]:
    """All (colour, shape, action) combinations a main object can have (no rotating circles)."""
    return [
        (c, s, a)
        for a in ACTIONS
        for c in COLOURS
        for s in SHAPES
        if not (s == "circle" and a.startswith("rotate"))
    ]


def held_out_combos(seed: int) -> frozenset[tuple[str, str, str]]:
    """The (colour, shape, action) combinations reserved for `test_comp` (deterministic).

    About a tenth of the valid combinations, spread evenly over actions, colours and shapes, and
    at most one per (colour, action) and (shape, action) pair and two per (colour, shape) pair,
    so every pair that makes up a held-out combination still occurs in training.
    """
    candidates = valid_combos()
    random.Random(f"video-holdout-{seed}").shuffle(candidates)
    target = round(HOLD_OUT_FRACTION * len(candidates))
    caps = {
        "colour": math.ceil(target / len(COLOURS)),
        "shape": math.ceil(target / len(SHAPES)),
    }
    chosen: list[tuple[str, str, str]] = []
    counts: dict[tuple, int] = {}

    def fits(c: str, s: str, a: str) -> bool:
        return (
            counts.get(("c", c), 0) < caps["colour"]
            and counts.get(("s", s), 0) < caps["shape"]
            and counts.get(("ca", c, a), 0) < 1
            and counts.get(("sa", s, a), 0) < 1
            and counts.get(("cs", c, s), 0) < 2
        )

    while len(chosen) < target:
        added = False
        for action in ACTIONS:  # round robin over actions keeps them balanced
            if len(chosen) == target:
                break
            for combo in candidates:
                c, s, a = combo
                if a == action and combo not in chosen and fits(c, s, a):
                    chosen.append(combo)
                    for key in (("c", c), ("s", s), ("ca", c, a), ("sa", s, a), ("cs", c, s)):
                        counts[key] = counts.get(key, 0) + 1
                    added = True
                    break
        if not added:
            break
    return frozenset(chosen)


# ---------------------------------------------------------------------------------------------
# planning: every random choice of a clip, as a plain dict (the "job")


def _plan_object(
    rng: random.Random,
    shape: str,
    colour: str,
    action: str,
    radius: tuple[float, float],
    size: int,
) -> dict:
    """Position, size, orientation and motion of one object, in fractions of the frame side."""
    if shape == "circle" and action.startswith("rotate"):
        raise AvseqError("video corpus: a circle cannot visibly rotate")
    rgb = [min(255, max(0, v + rng.randint(-15, 15))) for v in COLOURS[colour]]
    obj = {
        "shape": shape,
        "colour": colour,
        "rgb": rgb,
        "action": action,
        "radius": rng.uniform(*radius),
        "angle": rng.uniform(0, 2 * math.pi),
        "dx": 0.0,
        "dy": 0.0,
        "spin": 0.0,
        "log_scale": 0.0,
        "fade": None,
        "bounce": None,
    }
    if action in ("grow", "shrink"):
        factor = rng.uniform(2.0, 2.8)
        root = math.sqrt(factor)
        # radius is the geometric mean: keep the smallest size clearly bigger than a
        # distractor and the largest inside the frame
        lo, hi = max(radius[0], 0.10 * root), min(radius[1], 0.30 / root)
        obj["radius"] = rng.uniform(lo, max(lo, hi))
        obj["log_scale"] = math.log(factor) * (1 if action == "grow" else -1)
    margin = (MAX_JITTER + 1) / size
    extent = EXTENT[shape] * obj["radius"] * math.exp(abs(obj["log_scale"]) / 2)
    lo, hi = margin + extent, 1 - margin - extent
    if action.startswith("move"):
        top = min(0.55, hi - lo)  # tiny frames leave less room
        travel = rng.uniform(min(0.30, top), top)
        drift = rng.uniform(-0.05, 0.05)
        direction = {
            "move_left": (-1, 0),
            "move_right": (1, 0),
            "move_up": (0, -1),
            "move_down": (0, 1),
        }[action]
        obj["dx"] = direction[0] * travel + direction[1] * drift
        obj["dy"] = direction[1] * travel + direction[0] * drift
    elif action.startswith("rotate"):
        # 180-320 degrees: at 16 frames sampled per clip a step turns 11-20 degrees, clearly
        # visible at 64 px yet under half of the star's 72-degree symmetry (no aliasing)
        turn = math.radians(rng.uniform(180, 320))
        obj["spin"] = turn if action == "rotate_clockwise" else -turn
    elif action in ("appear", "disappear"):
        obj["fade"] = [rng.uniform(0.2, 0.5), rng.uniform(0.0, 0.2)]
    elif action == "bounce":
        top = min(0.35, hi - lo)
        amp = rng.uniform(min(0.20, top), top)
        obj["bounce"] = [rng.randint(1, 3), amp]
    low_y = lo + (obj["bounce"][1] if obj["bounce"] else 0.0)
    obj["x"] = rng.uniform(lo + max(0.0, -obj["dx"]), hi - max(0.0, obj["dx"]))
    obj["y"] = rng.uniform(low_y + max(0.0, -obj["dy"]), hi - max(0.0, obj["dy"]))
    return obj


def plan_clip(
    rng: random.Random,
    action: str,
    colour: str,
    shape: str,
    size: int = 96,
    *,
    distractor: bool | None = None,
    noise: bool = True,
) -> dict:
    """The recipe of one clip (see `render_clip`), drawn from `rng`.

    Args:
        distractor: True/False forces a distractor object or none; None draws it (p = 0.7).
        noise: False turns off camera jitter and pixel noise (for tests).
    """
    fps = rng.choice(FPS_CHOICES)
    num_frames = max(MIN_FRAMES, round(rng.uniform(1.6, 3.2) * fps))
    main = _plan_object(rng, shape, colour, action, (0.13, 0.20), size)
    has_distractor = rng.random() < 0.7 if distractor is None else distractor
    other = None
    if has_distractor:
        d_colour = rng.choice([c for c in COLOURS if c != colour])
        d_shape = rng.choice(SHAPES)
        choices = [
            a
            for a in DISTRACTOR_ACTIONS
            if a != action and not (d_shape == "circle" and a.startswith("rotate"))
        ]
        other = _plan_object(rng, d_shape, d_colour, rng.choice(choices), (0.05, 0.08), size)
    return {
        "size": size,
        "fps": fps,
        "num_frames": num_frames,
        "seed": rng.getrandbits(63),
        "main": main,
        "distractor": other,
        "distractor_on_top": rng.random() < 0.5,
        "jitter": rng.randint(0, MAX_JITTER) if noise else 0,
        "noise": rng.uniform(0.0, 6.0) if noise else 0.0,
    }


def reverse_job(job: dict) -> dict:
    """The recipe of the same clip played backwards (its action becomes the reversed one).

    Rendering it gives the original frames in reverse order when the clip has no camera
    jitter or pixel noise (those are drawn per frame, so they differ but look alike).
    """
    out = json.loads(json.dumps(job))
    for key in ("main", "distractor"):
        obj = out[key]
        if obj is None:
            continue
        obj["action"] = REVERSED_ACTION.get(obj["action"], obj["action"])
        obj["x"] += obj["dx"]
        obj["y"] += obj["dy"]
        obj["dx"], obj["dy"] = -obj["dx"], -obj["dy"]
        obj["angle"] += obj["spin"]
        obj["spin"] = -obj["spin"]
        obj["log_scale"] = -obj["log_scale"]
        # "fade" and "bounce" are played backwards by the action's name or are symmetric
    return out


def _clip_rng(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"video-{seed}-{split}-{index}")


def plan_jobs(spec: VideoCorpusSpec) -> dict[str, list[dict]]:
    """Plans every clip of every split (cheap, deterministic; clip i of a split depends only on
    the seed, the split and i, so a smaller corpus holds the first clips of a larger one)."""
    held_out = held_out_combos(spec.seed)
    pools: dict[str, dict[str, list[tuple[str, str]]]] = {"seen": {}, "held": {}}
    for c, s, a in valid_combos():
        pools["held" if (c, s, a) in held_out else "seen"].setdefault(a, []).append((c, s))
    counts = {"train": spec.n_train, "val": spec.n_val, "test": spec.n_test}
    counts["test_comp"] = spec.n_comp
    jobs: dict[str, list[dict]] = {}
    for split in SPLITS:
        pool = pools["held" if split == "test_comp" else "seen"]
        split_jobs = []
        order: list[str] = []
        for index in range(counts[split]):
            if index % len(ACTIONS) == 0:  # balanced classes, shuffled within each block
                order = list(ACTIONS)
                random.Random(f"video-{spec.seed}-{split}-block{index}").shuffle(order)
            action = order[index % len(ACTIONS)]
            rng = _clip_rng(spec.seed, split, index)
            colour, shape = rng.choice(pool[action])
            job = plan_clip(rng, action, colour, shape, spec.size)
            job["video_id"] = f"{split}_{index:06d}"
            job["split"] = split
            job["label"] = ACTIONS.index(action)
            job["captions"] = captions_for(colour, shape, action, rng)
            split_jobs.append(job)
        jobs[split] = split_jobs
    return jobs


# ---------------------------------------------------------------------------------------------
# rendering


def _background(rng: np.random.Generator, side: int) -> np.ndarray:
    """A dark, desaturated, textured (side, side, 3) float32 image."""
    grid = (np.arange(side, dtype=np.float32) + 0.5) / side
    phi = rng.uniform(0, 2 * math.pi)
    ramp = (grid[None, :] - 0.5) * math.cos(phi) + (grid[:, None] - 0.5) * math.sin(phi)
    lum = rng.uniform(30, 70) + rng.uniform(0, 40) * ramp
    for cells, amp in ((int(rng.integers(3, 6)), rng.uniform(6, 18)), (9, rng.uniform(2, 8))):
        coarse = rng.standard_normal((cells, cells)).astype(np.float32)
        up = _upsample_matrix(cells, side)
        lum = lum + amp * (up @ coarse @ up.T)
    tint = 1 + rng.uniform(-0.12, 0.12, 3).astype(np.float32)
    img = lum[..., None] * tint
    img += rng.standard_normal((side, side, 1), dtype=np.float32) * rng.uniform(2, 6)
    img += rng.standard_normal((side, side, 3), dtype=np.float32) * 1.5
    return np.clip(img, 12, 115).astype(np.float32)


def _upsample_matrix(cells: int, side: int) -> np.ndarray:
    """(side, cells) linear interpolation weights from a coarse grid to pixel centres."""
    pos = ((np.arange(side) + 0.5) / side) * (cells - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, cells - 2)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((side, cells), np.float32)
    m[np.arange(side), lo] = 1 - frac
    m[np.arange(side), lo + 1] = frac
    return m


def _trajectory(obj: dict, num_frames: int, size: int) -> tuple[np.ndarray, ...]:
    """Per-frame centre x, y and radius (pixels), angle (radians) and opacity."""
    u = np.arange(num_frames, dtype=np.float64) / (num_frames - 1)
    x = (obj["x"] + obj["dx"] * u) * size
    y = obj["y"] + obj["dy"] * u
    if obj["bounce"]:
        k, amp = obj["bounce"]
        y = y - amp * np.abs(np.sin(np.pi * k * u))
    y = y * size
    r = obj["radius"] * size * np.exp(obj["log_scale"] * (u - 0.5))
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
# They avoid atan2, hypot, mod and where, which cost 10-100 times a multiplication in numpy.

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


def _draw(frames: np.ndarray, obj: dict, shift: np.ndarray) -> None:
    """Composites an anti-aliased object onto (T, S, S, 3) float32 frames in place."""
    num_frames, size = frames.shape[0], frames.shape[1]
    x, y, r, angle, opacity = _trajectory(obj, num_frames, size)
    visible = np.flatnonzero(opacity > 0)
    if visible.size == 0:
        return
    x, y = x[visible] - shift[visible, 0], y[visible] - shift[visible, 1]  # camera moved
    r, angle, opacity = r[visible], angle[visible], opacity[visible]
    half = math.ceil(EXTENT[obj["shape"]] * r.max() + 2)
    width = 2 * half + 2
    x0 = np.floor(x).astype(int) - half
    y0 = np.floor(y).astype(int) - half
    offsets = np.arange(width, dtype=np.float32) + 0.5  # pixel centres
    dx = (x0 - x).astype(np.float32)[:, None, None] + offsets[None, None, :]
    dy = (y0 - y).astype(np.float32)[:, None, None] + offsets[None, :, None]
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    # object coordinates: rotate back by the angle (clockwise on screen = increasing angle,
    # since image y points down)
    qx, qy = dx * cos + dy * sin, dy * cos - dx * sin
    sd = _signed_distance(obj["shape"], qx, qy, r.astype(np.float32)[:, None, None])
    alpha = np.clip(0.5 - sd, 0, 1) * opacity.astype(np.float32)[:, None, None]
    # composite on (T, S, 3S) rows: contiguous slices are several times faster to update
    # than (h, w, 3) views; colour = under * (1 - alpha) + rgb * alpha
    alpha = np.repeat(alpha, 3, axis=2)
    paint = alpha * np.tile(np.asarray(obj["rgb"], np.float32) + 0.5, width)  # see render_clip
    keep = 1 - alpha
    rows = frames.reshape(num_frames, size, 3 * size)
    for i, t in enumerate(visible):
        fx0, fy0 = max(x0[i], 0), max(y0[i], 0)
        fx1, fy1 = min(x0[i] + width, size), min(y0[i] + width, size)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        box = (slice(fy0 - y0[i], fy1 - y0[i]), slice(3 * (fx0 - x0[i]), 3 * (fx1 - x0[i])))
        region = rows[t, fy0:fy1, 3 * fx0 : 3 * fx1]
        region *= keep[i][box]
        region += paint[i][box]


_NOISE_BANK: list[np.ndarray] = []


def _noise_bank() -> np.ndarray:
    """2^20 standard normal samples, the same in every process (drawing fresh ones for every
    pixel of every frame would take most of a clip's rendering time)."""
    if not _NOISE_BANK:
        _NOISE_BANK.append(np.random.default_rng(20240611).standard_normal(1 << 20, np.float32))
    return _NOISE_BANK[0]


def render_clip(job: dict) -> tuple[np.ndarray, float]:
    """Renders a planned clip: returns (T, H, W, 3) uint8 RGB frames and the frame rate.

    A pure function of `job` (see `plan_clip`): the same job gives the same frames.
    """
    size, num_frames, jitter = job["size"], job["num_frames"], job["jitter"]
    rng = np.random.default_rng(job["seed"])
    background = _background(rng, size + 2 * jitter)
    shift = rng.integers(-jitter, jitter + 1, size=(num_frames, 2))
    # all colours carry +0.5 so that truncating to uint8 at the end rounds (alpha blending and
    # zero-mean noise keep the offset)
    background += 0.5
    frames = np.empty((num_frames, size, size, 3), np.float32)
    for t, (sx, sy) in enumerate(shift):
        frames[t] = background[jitter + sy : jitter + sy + size, jitter + sx : jitter + sx + size]
    objects = [job["main"]]
    if job["distractor"] is not None:
        objects.insert(len(objects) if job["distractor_on_top"] else 0, job["distractor"])
    for obj in objects:
        _draw(frames, obj, shift)
    if job["noise"] > 0:  # per-frame Gaussian noise: random windows of a fixed noise bank
        bank = _noise_bank()
        n = frames[0].size
        sigma = np.float32(job["noise"])
        for t, start in enumerate(rng.integers(0, bank.size - n, size=num_frames)):
            frames[t] += bank[start : start + n].reshape(frames.shape[1:]) * sigma
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8), float(job["fps"])


# ---------------------------------------------------------------------------------------------
# writing


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 23) -> None:
    """Writes (T, H, W, 3) uint8 RGB frames as an H.264 (yuv420p) MP4, atomically."""
    path = Path(path)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise AvseqError(f"{path}: expected (T, H, W, 3) uint8 frames, got {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise AvseqError(f"{path}: H.264 yuv420p needs an even frame size, got {width}x{height}")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    rate = round(fps) if float(fps).is_integer() else fps
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.thread_count = 1
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_clip(args: tuple[dict, str]) -> int:
    job, path = args
    frames, fps = render_clip(job)
    write_mp4(path, frames, fps)
    return os.path.getsize(path)


def _clip_path(job: dict) -> str:
    return f"clips/{job['split']}/{job['video_id']}.mp4"


def _remove_stale_partials(out: Path) -> None:
    """Deletes unfinished corpus folders of earlier runs whose process has ended."""
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # signal 0 only checks that the process exists
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def generate_video_corpus(spec: VideoCorpusSpec, force: bool = False) -> Path:
    """Generates the corpus unless one with the same settings exists; returns its folder.

    Clips are written into a hidden `.<folder>.partial-<pid>` folder that is renamed when
    everything (corpus.json last) is written, so an interrupted run never leaves a corpus
    folder that looks finished.
    """
    out = spec.path
    marker = out / "corpus.json"
    if marker.is_file() and not force:
        log.info("built-in action-clip corpus already present: %s", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        stats = _generate_into(spec, work)
        if out.exists():
            if (out / "corpus.json").is_file() and not force:  # a concurrent run finished
                shutil.rmtree(work)
                return out
            shutil.rmtree(out)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("action-clip corpus: %s (%s)", out, stats)
    return out


def _generate_into(spec: VideoCorpusSpec, work: Path) -> dict:
    jobs = plan_jobs(spec)
    for split in SPLITS:
        (work / "clips" / split).mkdir(parents=True, exist_ok=True)
    everything = [job for split in SPLITS for job in jobs[split]]
    sizes: dict[str, int] = {}
    ctx = get_context("fork")
    with Progress() as progress, ctx.Pool(max(1, spec.workers)) as pool:
        task = progress.add_task(
            f"rendering {len(everything)} clips -> {spec.path}", total=len(everything)
        )
        args = [(job, str(work / _clip_path(job))) for job in everything]
        for job, nbytes in zip(everything, pool.imap(_write_clip, args, chunksize=8), strict=True):
            sizes[job["video_id"]] = nbytes
            progress.advance(task)

    for split in SPLITS:
        lines = [f"{_clip_path(job)} {job['label']}\n" for job in jobs[split]]
        (work / f"{split}.txt").write_text("".join(lines))
    (work / "classes.txt").write_text("".join(f"{a}\n" for a in ACTIONS))

    videos, sentences = [], []
    for job in everything:
        main, other = job["main"], job["distractor"]
        videos.append(
            {
                "video_id": job["video_id"],
                "split": job["split"],
                "path": _clip_path(job),
                "category": job["label"],
                "action": main["action"],
                "colour": main["colour"],
                "shape": main["shape"],
                "fps": job["fps"],
                "num_frames": job["num_frames"],
                "duration": round(job["num_frames"] / job["fps"], 4),
                "distractor": None
                if other is None
                else {k: other[k] for k in ("colour", "shape", "action")},
            }
        )
        for caption in job["captions"]:
            sentences.append(
                {"video_id": job["video_id"], "caption": caption, "sen_id": len(sentences)}
            )
    info = {
        "description": "avseq built-in action clips: 2-D shapes performing actions",
        "generator": GENERATOR_VERSION,
        "seed": spec.seed,
        "classes": list(ACTIONS),
        "captions_per_video": CAPTIONS_PER_CLIP,
    }
    (work / "captions.json").write_text(
        json.dumps({"info": info, "videos": videos, "sentences": sentences})
    )

    stats = {
        split: {
            "clips": len(jobs[split]),
            "frames": sum(job["num_frames"] for job in jobs[split]),
            "bytes": sum(sizes[job["video_id"]] for job in jobs[split]),
        }
        for split in SPLITS
    }
    held_out = sorted(held_out_combos(spec.seed), key=lambda c: (ACTIONS.index(c[2]), c))
    marker = {
        "settings": spec.settings(),
        "classes": list(ACTIONS),
        "splits": stats,
        "held_out": [list(c) for c in held_out],
    }
    (work / "corpus.json").write_text(json.dumps(marker, indent=2))
    return stats


# the middle of the clips' 1.6-3.2 s: the window `avseq classify` slides over long videos
BUILTIN_CLIP_SECONDS = 2.4
