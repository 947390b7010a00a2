"""Planning the built-in action clips: every random choice of a clip, made up front.

A clip's plan (its "job") is a plain, JSON-serialisable dict of frame size, positions, sizes,
motions, colours, drawing styles, background, encoding, frame rate and seeds (the look is
planned by `video_look`); `avseq.data.synth.video_render.render_clip` turns it into frames
without drawing any further random choice of its own. Planning is cheap and deterministic, so
the whole corpus is planned before any clip is rendered.

The compositional hold-out lives here too: a deterministic tenth of the (colour, shape, action)
combinations never occurs as the main object of train, val or test clips, and the `test_comp`
split consists only of them.
"""

from __future__ import annotations

import json
import math
import random
from typing import TYPE_CHECKING

from avseq.data.synth.video_look import plan_background, plan_encoding, plan_frame, plan_style
from avseq.data.synth.video_render import EXTENT
from avseq.errors import AvseqError
from avseq.text.video_language import ACTIONS, COLOURS, REVERSED_ACTION, SHAPES, captions_for

if TYPE_CHECKING:
    from avseq.data.synth.video import VideoCorpusSpec

COMPOSITIONAL_SPLIT = "test_comp"  # held-out colour-shape-action combinations only
SPLITS = ("train", "val", "test", COMPOSITIONAL_SPLIT)
FPS_CHOICES = (8, 10, 12, 15, 20, 24, 25, 30)
CLIP_SECONDS = (1.2, 3.6)  # range of a clip's duration
# the middle of CLIP_SECONDS: the window `avseq classify` slides over long videos
BUILTIN_CLIP_SECONDS = 2.4
MIN_FRAMES = 16
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
MAIN_RADIUS = (0.10, 0.22)  # nominal radius, in units of the frame's short side
DISTRACTOR_RADIUS = (0.035, 0.07)  # and always under the main object's smallest
POP_SHARE = 0.4  # appear/disappear all at once rather than fading
MAX_JITTER = 1  # camera shake in pixels; kept small so slow rotations stay visible at 64 px


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
# one clip


def _plan_object(
    rng: random.Random,
    shape: str,
    colour: str,
    action: str,
    radius: tuple[float, float],
    frame: tuple[float, float],
    margin: float,
    keep_in: tuple[float, float, float, float] | None = None,
) -> dict:
    """Position, size, orientation and motion of one object, in units of the frame's short side.

    `frame` is the frame's (width, height) in those units. The object stays inside the frame;
    with `keep_in` (x0, y0, x1, y1), the centre square a square crop of the frame keeps, it
    also stays inside that square, except that a moving object may start or end outside it as
    long as the middle of its path lies inside.
    """
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
        factor = rng.uniform(1.6, 3.0)
        root = math.sqrt(factor)
        # radius is the geometric mean: keep the smallest size clearly visible and the
        # largest inside the frame
        lo, hi = max(radius[0], 0.08 * root), min(radius[1], 0.30 / root)
        obj["radius"] = rng.uniform(lo, max(lo, hi))
        obj["log_scale"] = math.log(factor) * (1 if action == "grow" else -1)
    extent = EXTENT[shape] * obj["radius"] * math.exp(abs(obj["log_scale"]) / 2)
    box = keep_in or (0.0, 0.0, *frame)
    lo_x, hi_x = box[0] + margin + extent, box[2] - margin - extent
    lo_y, hi_y = box[1] + margin + extent, box[3] - margin - extent
    if action.startswith("move"):
        horizontal = action in ("move_left", "move_right")
        full = frame[0] if horizontal else frame[1]
        edge_lo, edge_hi = margin + extent, full - margin - extent  # the frame along the path
        lo, hi = (lo_x, hi_x) if horizontal else (lo_y, hi_y)  # the path's middle
        top = min(0.6 + 0.5 * (full - 1), edge_hi - edge_lo)
        travel = rng.uniform(min(0.2, top), top)
        first_lo = max(edge_lo, lo - travel / 2)
        first = rng.uniform(first_lo, max(first_lo, min(edge_hi - travel, hi - travel / 2)))
        drift = rng.uniform(-0.05, 0.05)
        side_lo, side_hi = (lo_y, hi_y) if horizontal else (lo_x, hi_x)
        side = rng.uniform(side_lo, max(side_lo, side_hi - abs(drift))) + max(0.0, -drift)
        sign = -1 if action in ("move_left", "move_up") else 1
        along = first + (travel if sign < 0 else 0.0)
        if horizontal:
            obj["x"], obj["y"], obj["dx"], obj["dy"] = along, side, sign * travel, drift
        else:
            obj["x"], obj["y"], obj["dx"], obj["dy"] = side, along, drift, sign * travel
        return obj
    if action.startswith("rotate"):
        # over 16 sampled frames a step turns 8-27 degrees: visible, yet under half of the
        # star's 72-degree symmetry, so the direction of turning is unambiguous
        turn = math.radians(rng.uniform(120, 400))
        obj["spin"] = turn if action == "rotate_clockwise" else -turn
    elif action in ("appear", "disappear"):
        # a pop (all at once) or a fade, over a span of the clip that leaves the object
        # absent, then present (or the reverse), for a good part of it
        start = rng.uniform(0.15, 0.5)
        length = 0.0 if rng.random() < POP_SHARE else rng.uniform(0.1, 0.85 - start)
        obj["fade"] = [start, length]
    elif action == "bounce":
        top = min(0.35, hi_y - lo_y)
        amp = rng.uniform(min(0.15, top), top)
        obj["bounce"] = [rng.randint(1, 3), amp]
    low_y = lo_y + (obj["bounce"][1] if obj["bounce"] else 0.0)
    obj["x"] = rng.uniform(lo_x, max(lo_x, hi_x))
    obj["y"] = rng.uniform(low_y, max(low_y, hi_y))
    return obj


def plan_clip(
    rng: random.Random,
    action: str,
    colour: str,
    shape: str,
    size: int = 96,
    *,
    width: int | None = None,
    height: int | None = None,
    distractor: bool | None = None,
    noise: bool = True,
    plain: bool = False,
) -> dict:
    """The recipe of one clip (see `render_clip`), drawn from `rng`.

    Args:
        size: frame side; `width` and `height` (even) override it, and the short side then
            is the unit of positions and sizes.
        distractor: True/False forces a distractor object or none; None draws it (p = 0.7).
        noise: False turns off camera jitter and pixel noise (for tests).
        plain: solid anti-aliased objects on a flat dark background, in H.264 (for tests).
    """
    width, height = width or size, height or size
    unit = min(width, height)
    frame = (width / unit, height / unit)
    cx, cy = (frame[0] - 1) / 2, (frame[1] - 1) / 2
    square = (cx, cy, cx + 1, cy + 1)  # what a centre crop to a square keeps
    margin = (MAX_JITTER + 1) / unit
    fps = rng.choice(FPS_CHOICES)
    num_frames = max(MIN_FRAMES, round(rng.uniform(*CLIP_SECONDS) * fps))
    main = _plan_object(rng, shape, colour, action, MAIN_RADIUS, frame, margin, square)
    main["style"] = plan_style(rng, unit, solid=plain)
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
        smallest = main["radius"] * math.exp(-abs(main["log_scale"]) / 2)
        cap = min(DISTRACTOR_RADIUS[1], 0.75 * smallest)
        radius = (min(DISTRACTOR_RADIUS[0], 0.8 * cap), cap)
        other = _plan_object(rng, d_shape, d_colour, rng.choice(choices), radius, frame, margin)
        other["style"] = plan_style(rng, unit, solid=plain)
    if plain:
        background = {"kind": "flat", "rgb": [24, 24, 28], "grain": 0.0}
        encoding = {"codec": "h264", "quality": 23}
    else:
        background = plan_background(rng, main["rgb"])
        encoding = plan_encoding(rng)
    return {
        "size": unit,
        "width": width,
        "height": height,
        "fps": fps,
        "num_frames": num_frames,
        "seed": rng.getrandbits(63),
        "background": background,
        **encoding,
        "main": main,
        "distractor": other,
        "distractor_on_top": rng.random() < 0.5,
        "jitter": rng.randint(0, MAX_JITTER) if noise else 0,
        "noise": rng.uniform(0.0, 8.0) if noise else 0.0,
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


# ---------------------------------------------------------------------------------------------
# the corpus


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
    counts[COMPOSITIONAL_SPLIT] = spec.n_comp
    jobs: dict[str, list[dict]] = {}
    for split in SPLITS:
        pool = pools["held" if split == COMPOSITIONAL_SPLIT else "seen"]
        split_jobs = []
        order: list[str] = []
        for index in range(counts[split]):
            if index % len(ACTIONS) == 0:  # balanced classes, shuffled within each block
                order = list(ACTIONS)
                random.Random(f"video-{spec.seed}-{split}-block{index}").shuffle(order)
            action = order[index % len(ACTIONS)]
            rng = _clip_rng(spec.seed, split, index)
            colour, shape = rng.choice(pool[action])
            width, height = plan_frame(rng, spec.size)
            job = plan_clip(rng, action, colour, shape, width=width, height=height)
            job["video_id"] = f"{split}_{index:06d}"
            job["split"] = split
            job["label"] = ACTIONS.index(action)
            job["captions"] = captions_for(colour, shape, action, rng)
            split_jobs.append(job)
        jobs[split] = split_jobs
    return jobs
