"""Planning how a built-in clip looks, apart from what happens in it: frame size and aspect
ratio, background, how each object is drawn, and how the clip is encoded.

A model trained on one look learns that look; these choices are drawn widely so that what
stays constant across clips is only the action and the object's colour and shape. Every
choice is a plain JSON value in the clip's plan (see `video_plan.plan_clip`); drawing them
(`video_background`, `video_render`) draws nothing further of its own.
"""

from __future__ import annotations

import math
import random

# (width, height) per unit of the short side, and how often each is drawn
ASPECTS = ((1.0, 1.0), (4 / 3, 1.0), (3 / 2, 1.0), (16 / 9, 1.0), (1.0, 4 / 3))
ASPECT_WEIGHTS = (0.35, 0.25, 0.1, 0.2, 0.1)
SHORT_SIDE_SCALES = (0.75, 1.0, 1.25)  # times the corpus `size`
BACKGROUNDS = ("flat", "gradient", "texture", "stripes", "clutter")
BACKGROUND_WEIGHTS = (0.2, 0.2, 0.25, 0.1, 0.25)
FILLS = ("solid", "shaded", "outline")
FILL_WEIGHTS = (0.5, 0.3, 0.2)
# codec -> (weight, quality range: CRF for h264 and vp9, the quantiser for mpeg4)
ENCODINGS = {"h264": (0.6, (18, 36)), "vp9": (0.15, (28, 50)), "mpeg4": (0.25, (2, 12))}
MIN_CONTRAST = 110.0  # RGB distance between an object's colour and the background behind it


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def plan_frame(rng: random.Random, size: int) -> tuple[int, int]:
    """(width, height): an even short side around `size` (at least 32), an aspect ratio from
    square to 16:9 (and some portrait frames)."""
    short = max(32, _even(size * rng.choice(SHORT_SIDE_SCALES)))
    aw, ah = rng.choices(ASPECTS, ASPECT_WEIGHTS)[0]
    return _even(short * aw), _even(short * ah)


def plan_encoding(rng: random.Random) -> dict:
    """{"codec", "quality"}: H.264 at several CRFs, VP9 or MPEG-4 Part 2."""
    codecs = list(ENCODINGS)
    codec = rng.choices(codecs, [ENCODINGS[c][0] for c in codecs])[0]
    lo, hi = ENCODINGS[codec][1]
    return {"codec": codec, "quality": rng.randint(lo, hi)}


def _distance(a, b) -> float:
    return math.dist([float(v) for v in a], [float(v) for v in b])


def _random_rgb(rng: random.Random, light: bool | None = None) -> list[int]:
    """A background colour: mostly desaturated, dark or light."""
    light = rng.random() < 0.35 if light is None else light
    lum = rng.uniform(150, 235) if light else rng.uniform(10, 110)
    sat = rng.uniform(0.0, 0.35) ** 1.5 * 255
    return [int(min(255, max(0, lum + rng.uniform(-sat, sat)))) for _ in range(3)]


def _background_colours(bg: dict) -> list[list[int]]:
    """The colours an object may be drawn over (what the contrast check compares against)."""
    return [bg[k] for k in ("rgb", "rgb2") if k in bg]


def plan_background(rng: random.Random, avoid: list[int]) -> dict:
    """A background whose colours all keep `MIN_CONTRAST` from the `avoid` colour.

    Kinds: "flat" (one colour, dark or light), "gradient" (linear or radial, between two
    colours), "texture" (smooth value noise at two scales), "stripes" (sinusoidal stripes or a
    checker pattern of low contrast), "clutter" (soft blobs, boxes and lines in colours near
    the base colour, like an out-of-focus scene). Each also gets a static grain.
    """
    for attempt in range(20):
        kind = rng.choices(BACKGROUNDS, BACKGROUND_WEIGHTS)[0]
        bg: dict = {"kind": kind, "rgb": _random_rgb(rng, False if attempt > 10 else None)}
        if kind == "gradient":
            bg["rgb2"] = _random_rgb(rng, sum(bg["rgb"]) > 390 if rng.random() < 0.7 else None)
            bg["angle"] = rng.uniform(0, 2 * math.pi)
            bg["radial"] = rng.random() < 0.3
        elif kind == "texture":
            bg["amp"] = rng.uniform(6, 30)
            bg["cells"] = rng.randint(3, 8)
        elif kind == "stripes":
            shift = rng.uniform(20, 45) * rng.choice((-1, 1))
            bg["rgb2"] = [int(min(255, max(0, v + shift))) for v in bg["rgb"]]
            bg["period"] = rng.uniform(0.08, 0.4)  # in units of the short side
            bg["angle"] = rng.uniform(0, math.pi)
            bg["checker"] = rng.random() < 0.3
        elif kind == "clutter":
            bg["items"] = rng.randint(4, 14)
            bg["spread"] = rng.uniform(20, 50)  # how far item colours stray from the base
        bg["grain"] = rng.uniform(0, 8) if rng.random() < 0.6 else 0.0
        spread = bg.get("amp", 0.0) * 1.5 + bg.get("spread", 0.0) + bg["grain"]
        if all(_distance(c, avoid) >= MIN_CONTRAST + spread for c in _background_colours(bg)):
            return bg
    return {"kind": "flat", "rgb": [20, 20, 24], "grain": 0.0}


def plan_style(rng: random.Random, unit: int, solid: bool = False) -> dict:
    """How one object is drawn: "solid", "shaded" (a brightness ramp across the object that
    turns with it) or "outline"; soft (anti-aliased) or hard edges; sometimes a darker rim.

    Widths are in pixels of a frame whose short side is `unit`, so a line stays at least about
    two pixels wide at 64-pixel training size.
    """
    fill = "solid" if solid else rng.choices(FILLS, FILL_WEIGHTS)[0]
    style = {
        "fill": fill,
        "hard": False if solid else rng.random() < 0.35,
        "line": max(2.0 * unit / 64, 1.0) * rng.uniform(1.0, 1.6),
        "line_fraction": rng.uniform(0.2, 0.45),  # outline width as a share of the radius
        "shade": None,
        "rim": None,
    }
    if fill == "shaded":
        angle = rng.uniform(0, 2 * math.pi)
        style["shade"] = [math.cos(angle), math.sin(angle), rng.uniform(0.12, 0.3)]
    if fill != "outline" and not solid and rng.random() < 0.25:
        style["rim"] = [rng.uniform(0.3, 0.6), max(1.0, unit / 64) * rng.uniform(1.0, 1.8)]
    return style
