"""A second, independent renderer of the built-in actions, for the `test_other` split.

A model can reach near-perfect accuracy on its own generator's clips by learning how that
generator draws (its backgrounds, edges, fades, codec). This module draws the same actions,
shapes and colours with other code: Pillow's `ImageDraw` polygons (no anti-aliasing, no signed
distance fields), 320x240 frames at 25 fps, a plain background that is noisy in most clips, no
distractor, no camera shake, and its own motion planning. Its clips are never used for training
or model selection; scoring them beside the test split tells whether a model learned the
actions or the generator's look.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

from avseq.text.video_language import ACTIONS, COLOURS, SHAPES, captions_for

OTHER_RENDERER_SPLIT = "test_other"
WIDTH, HEIGHT, FPS = 320, 240, 25


def _outline(shape: str, half: float, angle: float) -> list[tuple[float, float]] | None:
    """Polygon vertices (pixels, around the origin) of a shape `half` pixels across from its
    centre, turned by `angle` (clockwise on screen); None for the circle (an ellipse)."""
    if shape == "circle":
        return None
    if shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        points = [(x * half * 0.8, y * half * 0.8) for x, y in corners]
    elif shape == "triangle":
        points = [
            (half * math.cos(a), half * math.sin(a))
            for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))
        ]
    elif shape == "star":
        points = []
        for k in range(10):
            rad = half if k % 2 == 0 else half * 0.45
            a = -math.pi / 2 + k * math.pi / 5
            points.append((rad * math.cos(a), rad * math.sin(a)))
    else:  # cross: a plus sign of two bars a third as wide as long
        w = half / 3
        points = [
            (-w, -half), (w, -half), (w, -w), (half, -w), (half, w), (w, w),
            (w, half), (-w, half), (-w, w), (-half, w), (-half, -w), (-w, -w),
        ]  # fmt: skip
    c, s = math.cos(angle), math.sin(angle)
    return [(x * c - y * s, x * s + y * c) for x, y in points]


def plan_other_clip(seed: int, index: int) -> dict:
    """The recipe of clip `index` of the split: action (balanced), colour, shape, motion."""
    rng = random.Random(f"video-other-{seed}-{index}")
    action = ACTIONS[index % len(ACTIONS)]
    shapes = [s for s in SHAPES if not (s == "circle" and action.startswith("rotate"))]
    colour, shape = rng.choice(list(COLOURS)), rng.choice(shapes)
    half = rng.uniform(18, 36)
    frames = round(rng.uniform(1.6, 3.2) * FPS)
    x0, y0 = (
        rng.uniform(WIDTH / 2 - 50, WIDTH / 2 + 50),
        rng.uniform(HEIGHT / 2 - 40, HEIGHT / 2 + 40),
    )
    x1, y1 = x0, y0
    if action in ("move_left", "move_right"):
        dist = rng.uniform(90, 200)
        x0 = WIDTH / 2 + (dist / 2 if action == "move_left" else -dist / 2)
        x1 = x0 + (-dist if action == "move_left" else dist)
    elif action in ("move_up", "move_down"):
        dist = rng.uniform(70, 130)
        y0 = HEIGHT / 2 + (dist / 2 if action == "move_up" else -dist / 2)
        y1 = y0 + (-dist if action == "move_up" else dist)
    background = [rng.randint(0, 90)] * 3 if rng.random() < 0.7 else [rng.randint(90, 200)] * 3
    if all(abs(b - c) < 70 for b, c in zip(background, COLOURS[colour], strict=True)):
        background = [20, 20, 20]
    return {
        "index": index,
        "action": action,
        "colour": colour,
        "shape": shape,
        "half": half,
        "frames": frames,
        "start": (x0, y0),
        "end": (x1, y1),
        "angle": rng.uniform(0, 2 * math.pi),
        "turn": math.radians(rng.uniform(90, 270)),
        "scale": rng.uniform(1.8, 2.5),
        "change_at": rng.uniform(0.3, 0.6),
        "fade": rng.random() < 0.5,
        "hops": rng.randint(1, 3),
        "hop_height": rng.uniform(40, 70),
        "background": background,
        "noise": rng.uniform(3, 10) if rng.random() < 0.8 else 0.0,
        "seed": rng.getrandbits(32),
        "captions": captions_for(colour, shape, action, rng),
    }


def render_other_clip(plan: dict) -> tuple[np.ndarray, float]:
    """(T, 240, 320, 3) uint8 frames and the frame rate of a planned clip."""
    action, n = plan["action"], plan["frames"]
    noise_rng = np.random.default_rng(plan["seed"])
    colour = tuple(COLOURS[plan["colour"]])
    out = np.empty((n, HEIGHT, WIDTH, 3), np.uint8)
    plain = Image.new("RGB", (WIDTH, HEIGHT), tuple(plan["background"]))
    # grey sensor-like noise: a few random fields, each frame one of them shifted at random
    fields = noise_rng.standard_normal((4, HEIGHT, WIDTH, 1), dtype=np.float32) * plan["noise"]
    for t in range(n):
        u = t / (n - 1)
        x = plan["start"][0] + (plan["end"][0] - plan["start"][0]) * u
        y = plan["start"][1] + (plan["end"][1] - plan["start"][1]) * u
        half, angle, opacity = plan["half"], plan["angle"], 1.0
        if action == "rotate_clockwise":
            angle += plan["turn"] * u
        elif action == "rotate_counterclockwise":
            angle -= plan["turn"] * u
        elif action in ("grow", "shrink"):
            v = u if action == "grow" else 1 - u
            half *= plan["scale"] ** (v - 0.5)
        elif action in ("appear", "disappear"):
            v = u if action == "appear" else 1 - u
            since = v - plan["change_at"]
            ramp = since / 0.3 if plan["fade"] else float(since >= 0)
            opacity = min(1.0, max(0.0, ramp))
        elif action == "bounce":
            y += plan["hop_height"] / 2 - plan["hop_height"] * abs(
                math.sin(math.pi * plan["hops"] * u)
            )
        image = plain.copy()
        layer = image if opacity >= 1 else Image.new("RGB", (WIDTH, HEIGHT))
        draw = ImageDraw.Draw(layer)
        if opacity > 0:
            if opacity < 1:
                layer.paste(image)
            points = _outline(plan["shape"], half, angle)
            if points is None:
                draw.ellipse([x - half, y - half, x + half, y + half], fill=colour)
            else:
                draw.polygon([(x + px, y + py) for px, py in points], fill=colour)
            if opacity < 1:
                image = Image.blend(image, layer, opacity)
        frame = np.asarray(image)
        if plan["noise"] > 0:
            shift = tuple(int(v) for v in noise_rng.integers(0, (HEIGHT, WIDTH)))
            noise = np.roll(fields[t % len(fields)], shift, axis=(0, 1))
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
        out[t] = frame
    return out, float(FPS)
