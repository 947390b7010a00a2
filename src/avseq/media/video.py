"""Video file reading with PyAV (FFmpeg): any container, codec, size and frame rate in,
small square RGB frames out.

Frames are resized on decode by FFmpeg's scaler (short side to `size`, then a centre crop), so
even a 1080p file costs little memory. Everything that can go wrong with a file becomes a
one-line `BadVideoError` naming it. `write_mp4` writes frames as an H.264, VP9 or MPEG-4 MP4.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from avseq.errors import AvseqError, BadVideoError

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ogv",
    ".flv",
    ".wmv",
    ".3gp",
    ".ts",
    ".gif",
)
BACKENDS = ("pyav", "torchcodec")
# a clip longer than this many frames is read by time (`iter_frames(every=...)`) rather than
# by converting every frame
MAX_CLIP_FRAMES = 2000


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    duration: float  # seconds; 0 when the container does not say
    num_frames: int  # from the container; 0 when it does not say


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]


def open_video(path: str | Path) -> tuple[av.container.InputContainer, av.video.VideoStream]:
    """Opens a video file, raising `BadVideoError` (naming the file) when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise BadVideoError(
            f"{path}: no such video file; check the path (annotation paths are relative "
            "to the annotation file or data.video_root)"
        )
    if path.stat().st_size == 0:
        raise BadVideoError(f"{path}: the file is empty (0 bytes); re-create or remove it")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as err:  # av.error.InvalidDataError and friends
        raise BadVideoError(
            f"{path}: not a readable video file ({_short(err)}): truncated, damaged or "
            "not a video; avseq reads what FFmpeg reads (mp4, mkv, webm, avi, mov, ...)"
        ) from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        container.close()
        raise BadVideoError(f"{path}: the file has no video stream ({kinds}); remove it")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def video_info(path: str | Path) -> VideoInfo:
    container, stream = open_video(path)
    with container:
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        return VideoInfo(
            Path(path),
            stream.codec_context.width,
            stream.codec_context.height,
            fps,
            duration,
            int(stream.frames or 0),
        )


def _to_rgb(frame: av.VideoFrame, size: int, scaler: VideoReformatter) -> np.ndarray:
    """Short side to `size` (FFmpeg's area scaler), then a centre crop: (size, size, 3) uint8.

    One `scaler` serves a whole file: it keeps FFmpeg's scaling context between frames, which
    is faster than `frame.to_ndarray(width=..., height=...)` building one per frame.
    """
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = scaler.reformat(
        frame, width=nw, height=nh, format="rgb24", interpolation="AREA"
    ).to_ndarray()
    top, left = (nh - size) // 2, (nw - size) // 2
    return rgb[top : top + size, left : left + size]


def _decode(path: Path, container, stream) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as err:
        raise BadVideoError(
            f"{path}: decoding failed ({_short(err)}); the file is damaged"
        ) from None


def iter_frames(
    path: str | Path, size: int, every: float = 0.0
) -> Iterator[tuple[float, np.ndarray]]:
    """Yields (seconds, (size, size, 3) uint8 RGB) per frame, keeping at most one frame per
    `every` seconds (0 keeps all). Memory stays bounded whatever the file's length."""
    path = Path(path)
    container, stream = open_video(path)
    with container:
        yield from _timed_frames(path, container, stream, size, every)


def _timed_frames(
    path: Path, container, stream, size: int, every: float
) -> Iterator[tuple[float, np.ndarray]]:
    next_t, count = -math.inf, 0
    scaler = VideoReformatter()
    for i, frame in enumerate(_decode(path, container, stream)):
        t = frame.time if frame.time is not None else i / float(stream.average_rate or 25)
        if t + 1e-6 < next_t:
            continue
        next_t = t + every
        count += 1
        yield t, _to_rgb(frame, size, scaler)
    if count == 0:
        raise BadVideoError(f"{path}: no decodable frames (truncated or damaged); remove it")


def read_clip(path: str | Path, size: int, backend: str = "pyav") -> np.ndarray:
    """All frames of a short clip as (T, size, size, 3) uint8 RGB.

    backend: "pyav" (default; its wheels bundle FFmpeg) or "torchcodec" (optional: `pip install
    torchcodec==0.11.1`, needs a system FFmpeg 4-8).
    """
    if backend == "torchcodec":
        return _read_clip_torchcodec(Path(path), size)
    if backend != "pyav":
        raise ValueError(f"video backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    container, stream = open_video(path)
    with container:
        announced = int(stream.frames or 0)
        fps = float(stream.average_rate or 0.0)
        every = 0.0
        if announced > MAX_CLIP_FRAMES and fps > 0:  # a long file: keep an even subset
            every = announced / fps / MAX_CLIP_FRAMES
        return np.stack([rgb for _, rgb in _timed_frames(path, container, stream, size, every)])


def read_selected(
    path: str | Path, size: int, choose: Callable[[int], Iterable[int]]
) -> dict[int, np.ndarray] | None:
    """Decodes a clip but converts only the frames `choose(frame_count)` asks for (and stops
    after the last): the fast path for sampling a few frames of a clip.

    Returns:
        {frame index: (size, size, 3) uint8}, or None when the container does not announce its
        frame count or holds fewer frames than announced (read it with `read_clip` instead).
    """
    path = Path(path)
    container, stream = open_video(path)
    with container:
        count = int(stream.frames or 0)
        if count <= 0 or count > MAX_CLIP_FRAMES:
            return None
        wanted = set(choose(count))
        last = max(wanted)
        scaler = VideoReformatter()
        out: dict[int, np.ndarray] = {}
        for i, frame in enumerate(_decode(path, container, stream)):
            if i in wanted:
                out[i] = _to_rgb(frame, size, scaler)
            if i >= last:
                break
    return out if len(out) == len(wanted) else None


def _read_clip_torchcodec(path: Path, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as err:
        raise AvseqError(
            f"the torchcodec video backend is not available ({_short(err)}); "
            "pip install torchcodec==0.11.1 (needs system FFmpeg 4-8) or use the pyav backend"
        ) from None
    container, _ = open_video(path)  # the same up-front checks and messages as PyAV
    container.close()
    try:
        decoder = VideoDecoder(str(path), dimension_order="NCHW", seek_mode="approximate")
        count = len(decoder)
        step = max(1, math.ceil(count / MAX_CLIP_FRAMES))
        frames = decoder.get_frames_in_range(0, count, step).data  # (T, 3, H, W) uint8
    except Exception as err:  # torchcodec raises RuntimeError/ValueError with FFmpeg's words
        raise BadVideoError(
            f"{path}: decoding failed ({_short(err)}); the file is damaged"
        ) from None
    if frames.shape[0] == 0:
        raise BadVideoError(f"{path}: no decodable frames (truncated or damaged); remove it")
    h, w = frames.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(frames.float(), size=(nh, nw), mode="bilinear", antialias=True)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top : top + size, left : left + size].round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def sample_indices(
    num_frames: int,
    n: int,
    offset: float | None = 0.5,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """`n` frame indices spread evenly over `num_frames` (TSN-style segments).

    offset: where in each segment to take the frame, in [0, 1); None draws it at random per
    segment (training-time temporal jitter), from `rng` (default: numpy's global generator).
    A clip shorter than `n` frames gives all its frames, so the result may be shorter than `n`.
    """
    if num_frames <= n:
        return np.arange(num_frames)
    seg = num_frames / n
    if offset is None:
        pos = rng.random(n) if rng is not None else np.random.random_sample(n)
    else:
        pos = np.full(n, offset)
    return np.minimum((np.arange(n) + pos) * seg, num_frames - 1).astype(np.int64)


# codec name -> (FFmpeg encoder, its options for quality `q`): `q` is the CRF for h264 (0-51)
# and vp9 (0-63), the fixed quantiser for mpeg4 (MPEG-4 Part 2, 1-31)
MP4_CODECS: dict[str, tuple[str, Callable[[int], dict[str, str]]]] = {
    "h264": ("libx264", lambda q: {"crf": str(q), "preset": "veryfast"}),
    "vp9": (
        "libvpx-vp9",
        lambda q: {"crf": str(q), "b": "0", "deadline": "realtime", "cpu-used": "8"},
    ),
    "mpeg4": ("mpeg4", lambda q: {"qmin": str(q), "qmax": str(q)}),
}


def write_mp4(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    crf: int = 23,
    codec: str = "h264",
) -> None:
    """Writes (T, H, W, 3) uint8 RGB frames as a yuv420p MP4, atomically.

    codec: "h264" (libx264), "vp9" (libvpx-vp9) or "mpeg4" (MPEG-4 Part 2); `crf` is its
    quality knob (see `MP4_CODECS`: lower is better).
    """
    path = Path(path)
    if codec not in MP4_CODECS:
        raise AvseqError(f"{path}: codec must be one of {tuple(MP4_CODECS)}, got {codec!r}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise AvseqError(f"{path}: expected (T, H, W, 3) uint8 frames, got {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise AvseqError(f"{path}: yuv420p needs an even frame size, got {width}x{height}")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    rate = round(fps) if float(fps).is_integer() else fps
    encoder, options = MP4_CODECS[codec]
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream(encoder, rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.thread_count = 1
            stream.options = options(int(crf))
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
