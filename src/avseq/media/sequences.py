"""Frame sequences for frame prediction: `n` frames spread evenly over a clip, in order, the
same way for training data, evaluation and `avseq predict-frames`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avseq.errors import BadVideoError
from avseq.media.video import iter_frames, read_clip, read_selected


def even_indices(count: int, n: int) -> np.ndarray:
    """`n` frame indices at the centres of `n` equal segments of `count` frames; a clip shorter
    than `n` frames repeats some (a sequence always has `n` frames)."""
    if count < 1 or n < 1:
        raise ValueError(f"need at least one frame and one index, got count={count}, n={n}")
    return np.minimum(((np.arange(n) + 0.5) * count / n).astype(np.int64), count - 1)


def read_sequence(
    path: str | Path, size: int, n: int, backend: str = "pyav", seconds: float | None = None
) -> np.ndarray:
    """(n, size, size, 3) uint8 RGB frames spread evenly over a video (or over its first
    `seconds` seconds).

    Raises:
        BadVideoError: naming the file when it cannot be read.
    """
    if seconds is not None:  # a long video: only the frames of its first `seconds`
        frames = [rgb for t, rgb in _until(iter_frames(path, size), seconds)]
        if not frames:
            raise BadVideoError(f"{path}: no decodable frames in its first {seconds:g} s")
        stack = np.stack(frames)
        return stack[even_indices(len(stack), n)]
    if backend == "pyav":  # convert only the frames used when the container counts them
        chosen: list[np.ndarray] = []

        def choose(count: int) -> np.ndarray:
            chosen.append(even_indices(count, n))
            return chosen[0]

        selected = read_selected(path, size, choose)
        if selected is not None:
            return np.stack([selected[int(i)] for i in chosen[0]])
    frames = read_clip(path, size, backend)
    return frames[even_indices(len(frames), n)]


def _until(frames, seconds: float):
    for t, rgb in frames:
        if t >= seconds:
            return
        yield t, rgb
