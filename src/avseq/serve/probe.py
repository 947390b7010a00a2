"""Checking an upload is media the models can take, by decoding it (never by its name or
Content-Type), and within the limits, read from the container before the frames are decoded."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from avseq.errors import AvseqError
from avseq.media.audio import audio_info
from avseq.media.video import MAX_CLIP_FRAMES, VideoInfo, video_info
from avseq.serve.limits import ApiError, ServerLimits

DECODED_NAME = "decoded.wav"  # what an upload libsndfile cannot read is converted to
AUDIO_FORMATS = "wav, flac, ogg/opus, mp3, webm, m4a/aac, or a video's sound track"


def too_long(seconds: float, limits: ServerLimits, what: str, counted: bool = False) -> ApiError:
    """413 for media over the duration limit (`counted`: stopped counting at `seconds`)."""
    lasts = f"more than {seconds:.1f} s" if counted else f"{seconds:.1f} s"
    return ApiError(
        413, f"the {what} lasts {lasts}; this server takes at most {limits.max_media_seconds:g} s"
    )


def prepare_audio(path: Path, sample_rate: int, limits: ServerLimits) -> tuple[Path, float]:
    """Checks an upload is audio within the duration limit.

    Files libsndfile reads (wav, flac, ogg, mp3) are used as they are; anything else FFmpeg
    decodes (webm/opus from a browser's recorder, m4a, a video's sound) is converted to a mono
    WAV at `sample_rate` beside the upload, stopping as soon as it runs past the limit.

    Returns:
        (the file for `Transcriber`, its duration in seconds).

    Raises:
        ApiError: 415 when neither library decodes it as audio, 413 when it is too long.
    """
    try:
        info = audio_info(path)
    except AvseqError:
        info = None
    if info is not None:
        seconds = info.frames / info.samplerate
        if seconds > limits.max_media_seconds:
            raise too_long(seconds, limits, "audio")
        return path, seconds
    return transcode(path, path.with_name(DECODED_NAME), sample_rate, limits)


def transcode(src: Path, dst: Path, rate: int, limits: ServerLimits) -> tuple[Path, float]:
    """The first audio stream of `src` as a 16-bit mono WAV at `rate` (FFmpeg via PyAV)."""
    refused = ApiError(415, f"not an audio file this server can decode; send {AUDIO_FORMATS}")
    try:
        container = av.open(str(src), metadata_errors="ignore")
    except Exception:  # av.error.InvalidDataError and friends: not media at all
        raise refused from None
    with container:
        if not container.streams.audio:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            raise ApiError(415, f"the file has no sound track ({kinds}); send {AUDIO_FORMATS}")
        stream = container.streams.audio[0]
        stated = 0.0
        if stream.duration is not None and stream.time_base is not None:
            stated = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            stated = container.duration / av.time_base
        if stated > limits.max_media_seconds:
            raise too_long(stated, limits, "audio")
        most = int(limits.max_media_seconds * rate)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        samples = 0
        try:
            with sf.SoundFile(dst, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
                # a recorder's webm states no duration: the limit is counted while decoding
                for frame in itertools.chain(container.decode(stream), [None]):  # None: flush
                    for piece in resampler.resample(frame):
                        block = piece.to_ndarray().reshape(-1).astype(np.int16, copy=False)
                        samples += block.size
                        if samples > most:
                            raise too_long(samples / rate, limits, "audio", counted=True)
                        out.write(block)
        except av.error.FFmpegError:
            raise ApiError(415, "the audio is damaged: FFmpeg could not decode it") from None
    if samples == 0:
        raise ApiError(415, "the file's sound track holds no decodable audio")
    return dst, samples / rate


def check_video(path: Path, limits: ServerLimits, reads_all_frames: bool) -> VideoInfo:
    """Checks an upload is a video within the limits from its header, then counts its packets
    (demuxing only, no decoding) so a header that understates the length cannot slip by.

    Args:
        reads_all_frames: the model call reads the whole clip into memory (captioning; also
            classifying a file that states no duration): when the container states no frame
            count either, it keeps every frame, so such files are refused past
            `MAX_CLIP_FRAMES` frames.

    Raises:
        ApiError: 415 (not a video), 413 (frame size, rate or duration over the limits),
            422 (a header that disagrees with the file).
    """
    try:
        info = video_info(path)
    except AvseqError:
        raise ApiError(
            415, "not a video file this server can decode; send mp4, webm, mkv, mov, avi, ..."
        ) from None
    if info.width <= 0 or info.height <= 0:
        raise ApiError(415, "the video's frame size is unknown; re-encode it (e.g. as MP4)")
    if info.width * info.height > limits.max_frame_pixels:
        raise ApiError(
            413,
            f"the video's frames are {info.width}x{info.height}; this server takes at most "
            f"{limits.max_frame_pixels} pixels a frame (e.g. 3840x2160)",
        )
    if info.fps > limits.max_video_fps:
        raise ApiError(
            413, f"the video runs at {info.fps:g} frames/s; at most {limits.max_video_fps:g}"
        )
    if info.duration > limits.max_media_seconds:
        raise too_long(info.duration, limits, "video")
    frames, seconds = count_packets(path, limits)
    stated = info.duration
    longer = stated > 0 and seconds > 1.1 * stated + 1.0
    more = info.num_frames > 0 and frames > 1.1 * info.num_frames + 5
    if longer or more:
        raise ApiError(
            422,
            f"the video holds more than its header states ({frames} frames over {seconds:.1f} s; "
            f"the header says {info.num_frames} over {stated:.1f} s): damaged or crafted; "
            "re-encode it",
        )
    if (reads_all_frames or stated == 0) and info.num_frames == 0 and frames > MAX_CLIP_FRAMES:
        raise ApiError(
            422,
            f"this container states no frame count and the video has {frames} frames (more "
            f"than {MAX_CLIP_FRAMES}); convert it to MP4 or cut it shorter",
        )
    return info


def count_packets(path: Path, limits: ServerLimits) -> tuple[int, float]:
    """(video packets, the last packet's end in seconds), stopping past the limits."""
    most = int(limits.max_media_seconds * limits.max_video_fps) + 1
    frames, end = 0, 0.0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            base = float(stream.time_base or 0.0)
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                frames += 1
                if packet.pts is not None and base:
                    end = max(end, (packet.pts + (packet.duration or 0)) * base)
                if end > limits.max_media_seconds:
                    raise too_long(end, limits, "video", counted=True)
                if frames > most:
                    raise ApiError(
                        413,
                        f"the video holds more than {most - 1} frames ({limits.max_media_seconds:g}"
                        f" s at {limits.max_video_fps:g} frames/s), this server's limit",
                    )
    except av.error.FFmpegError:
        raise ApiError(415, "the video is damaged: FFmpeg could not read it") from None
    if frames == 0:
        raise ApiError(415, "the video holds no frames")
    if not math.isfinite(end):
        end = 0.0
    return frames, end
