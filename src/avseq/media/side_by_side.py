"""True and predicted frames side by side: an animation (GIF with Pillow, MP4 with PyAV) or a
PNG strip. Observed frames are framed green, predicted ones red."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avseq.errors import AvseqError
from avseq.media.video import write_mp4

SEEN, PREDICTED, GAP = (40, 170, 60), (210, 40, 40), (32, 32, 32)
FORMATS = (".gif", ".mp4", ".png")


def _framed(rgb: np.ndarray, colour: tuple[int, int, int], scale: int, border: int) -> np.ndarray:
    """(H, W, 3) uint8 -> scaled up (nearest) inside a border of `colour`."""
    big = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    out = np.empty((big.shape[0] + 2 * border, big.shape[1] + 2 * border, 3), np.uint8)
    out[:] = colour
    out[border : border + big.shape[0], border : border + big.shape[1]] = big
    return out


def comparison_frames(true: np.ndarray, predicted: np.ndarray, scale: int = 3) -> np.ndarray:
    """(T, H, W, 3) true frames and (k, H, W, 3) predictions of the last k -> (T, H', W', 3)
    animation frames: the true frame on the left; on the right the same frame while it is
    observed (green), the prediction once it is predicted (red)."""
    context = len(true) - len(predicted)
    border = max(2, scale)
    out = []
    for t, frame in enumerate(true):
        colour = SEEN if t < context else PREDICTED
        right = frame if t < context else predicted[t - context]
        left = _framed(frame, SEEN if t < context else GAP, scale, border)
        out.append(np.concatenate([left, _framed(right, colour, scale, border)], axis=1))
    return np.stack(out)


def comparison_strip(true: np.ndarray, predicted: np.ndarray, scale: int = 2) -> np.ndarray:
    """A (2 rows x T columns) image: the true frames above, the predictions below the frames
    they predict (observed columns left blank below)."""
    context = len(true) - len(predicted)
    border = max(2, scale)
    blank = np.zeros_like(true[0])
    blank[:] = GAP
    top = [_framed(f, SEEN if t < context else GAP, scale, border) for t, f in enumerate(true)]
    bottom = [_framed(blank, GAP, scale, border) for _ in range(context)]
    bottom += [_framed(f, PREDICTED, scale, border) for f in predicted]
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)


def write_comparison(path: Path, true: np.ndarray, predicted: np.ndarray, fps: float) -> None:
    """Writes the comparison of (T, H, W, 3) true and (k, H, W, 3) predicted uint8 frames as
    `path`: .gif or .mp4 (animated, `fps` frames a second) or .png (a strip)."""
    from PIL import Image  # Pillow comes with matplotlib

    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AvseqError(f"--output {path}: give a .gif, .mp4 or .png file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{suffix}")
    if suffix == ".png":
        Image.fromarray(comparison_strip(true, predicted)).save(tmp)
    elif suffix == ".gif":
        images = [Image.fromarray(f) for f in comparison_frames(true, predicted)]
        duration = round(1000 / fps)
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=duration, loop=0)
    else:
        write_mp4(tmp, comparison_frames(true, predicted), fps)
    tmp.replace(path)
