"""Training-time augmentation of video clips: the same spatial and colour change on every frame
of a clip (torchvision.transforms.v2 on the clip as one video tensor), and temporal jitter.

What it varies is what a new camera, renderer or codec varies: framing and zoom (random resized
crop), brightness, contrast and saturation, sharpness (a blur by scaling down and back up, which
also looks like lower-resolution footage, at a fraction of a Gaussian kernel's cost) and sensor
noise; and, in time, which part of the clip is seen and how fast it plays. What it never
changes is what a label or a caption says: no flips (move_left would become move_right,
clockwise counterclockwise), no rotations, no hue shift by default (the colour is a caption
word), and the frame order is kept.

Randomness: every draw derives from the `numpy.random.Generator` passed in, which the dataset
seeds per clip and epoch, so a resumed run sees the very same clips. torchvision's transforms
draw from torch's global generator; they run inside `torch.random.fork_rng` with a seed taken
from that generator, which leaves the global state as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from avseq.data.base import check_probability
from avseq.errors import AvseqError


def _pair(name: str, value: Sequence[float], lo: float, hi: float) -> tuple[float, float]:
    a, b = (float(v) for v in value)
    if not lo <= a <= b <= hi:
        raise AvseqError(f"data.augment.{name} must be [min, max] within [{lo}, {hi}], got {value}")
    return a, b


class VideoAugment:
    """Random, clip-consistent changes to training clips (see the module docstring).

    Args:
        crop_p: chance of a random resized crop (then resized back to the frame size).
        crop_scale: range of the crop's area, as a share of the frame.
        crop_ratio: range of the crop's aspect ratio (width / height).
        colour_p: chance of a colour jitter.
        brightness, contrast, saturation: jitter strengths (factors drawn in 1 -/+ each).
        hue: hue jitter (a share of the colour circle; keep it tiny, colours are words).
        blur_p: chance of a blur (scaled down, then back up to the frame size).
        blur_scale: range of the share of the frame side it is scaled down to.
        noise_p: chance of per-pixel Gaussian noise.
        noise_sigma: the noise's standard deviation, as a share of the full intensity range.
        window: range of the share of the clip the sampled frames are spread over (a random
            stretch of it; below 1 plays the seen part slower).
        warp: up to this log-factor the playing speed changes steadily over the clip
            (frame positions t ** exp(u), u in [-warp, warp]); 0 keeps an even pace.
    """

    def __init__(
        self,
        crop_p: float = 0.8,
        crop_scale: Sequence[float] = (0.6, 1.0),
        crop_ratio: Sequence[float] = (0.75, 1.3333),
        colour_p: float = 0.8,
        brightness: float = 0.35,
        contrast: float = 0.35,
        saturation: float = 0.3,
        hue: float = 0.0,
        blur_p: float = 0.2,
        blur_scale: Sequence[float] = (0.55, 0.9),
        noise_p: float = 0.3,
        noise_sigma: float = 0.03,
        window: Sequence[float] = (0.75, 1.0),
        warp: float = 0.3,
    ) -> None:
        self.crop_p = check_probability("crop_p", crop_p)
        self.crop_scale = _pair("crop_scale", crop_scale, 0.01, 1.0)
        self.crop_ratio = _pair("crop_ratio", crop_ratio, 0.1, 10.0)
        self.colour_p = check_probability("colour_p", colour_p)
        for name, value, top in (
            ("brightness", brightness, 1.0),
            ("contrast", contrast, 1.0),
            ("saturation", saturation, 1.0),
            ("hue", hue, 0.5),
            ("noise_sigma", noise_sigma, 1.0),
            ("warp", warp, 2.0),
        ):
            if not 0.0 <= float(value) <= top:
                raise AvseqError(f"data.augment.{name} must be in [0, {top}], got {value!r}")
        self.jitter = (float(brightness), float(contrast), float(saturation), float(hue))
        self.blur_p = check_probability("blur_p", blur_p)
        self.blur_scale = _pair("blur_scale", blur_scale, 0.05, 1.0)
        self.noise_p = check_probability("noise_p", noise_p)
        self.noise_sigma = float(noise_sigma)
        self.window = _pair("window", window, 0.05, 1.0)
        self.warp = float(warp)
        self._pipelines: dict[tuple[int, int], v2.Transform] = {}

    def _pipeline(self, height: int, width: int) -> v2.Transform:
        """The torchvision transform for frames of this size (built once per size)."""
        key = (height, width)
        if key not in self._pipelines:
            b, c, s, h = self.jitter
            crop = v2.RandomResizedCrop(
                (height, width), self.crop_scale, self.crop_ratio, antialias=True
            )
            short = min(height, width)
            lo, hi = (max(2, round(short * f)) for f in self.blur_scale)
            blur = v2.Compose(
                [
                    v2.RandomResize(lo, max(lo + 1, hi + 1), antialias=True),
                    v2.Resize((height, width), antialias=True),
                ]
            )
            self._pipelines[key] = v2.Compose(
                [
                    v2.RandomApply([crop], self.crop_p),
                    v2.RandomApply([v2.ColorJitter(b, c, s, h)], self.colour_p),
                    v2.RandomApply([blur], self.blur_p),
                    v2.RandomApply([v2.GaussianNoise(sigma=self.noise_sigma)], self.noise_p),
                ]
            )
        return self._pipelines[key]

    def frames(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(views, T, 3, H, W) uint8 -> the same shape and dtype, each view changed alike
        on all of its frames."""
        if frames.dtype != torch.uint8 or frames.ndim != 5:
            raise AvseqError(f"augment: expected (views, T, 3, H, W) uint8, got {frames.shape}")
        pipeline = self._pipeline(*frames.shape[-2:])
        seed = int(rng.integers(0, 2**63 - 1))
        out = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for view in frames:
                clip = tv_tensors.Video(view.float().div_(255))
                clip = pipeline(clip).as_subclass(torch.Tensor)
                out.append(clip.mul_(255).round_().clamp_(0, 255).to(torch.uint8))
        return torch.stack(out)

    def indices(self, count: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` increasing frame indices over a clip of `count` frames (all of them when
        `count <= n`): one at a random place in each of `n` equal segments of a random stretch
        of the clip, the stretch's time axis bent by a random power (speed-up or slow-down)."""
        if count <= n:
            return np.arange(count)
        share = rng.uniform(*self.window)
        start = rng.uniform(0.0, 1.0 - share)
        power = math.exp(rng.uniform(-self.warp, self.warp))
        u = (np.arange(n) + rng.random(n)) / n
        pos = (start + share * u**power) * count
        return np.minimum(pos.astype(np.int64), count - 1)
