"""Generated media and stand-ins for the server tests."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import soundfile as sf

from avseq.inference.speech import DecodeOptions
from avseq.serve.predictors import Predictors


def tone_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    sf.write(out, 0.3 * np.sin(2 * np.pi * 440 * t), rate, format="WAV")
    return out.getvalue()


def write_webm_opus(path: Path, wave: np.ndarray, rate: int, live: bool = True) -> Path:
    """Opus in WebM as a browser's MediaRecorder writes it: `live` leaves the duration out of
    the header, so only decoding tells how long it is."""
    options = {"live": "1"} if live else {}
    with av.open(str(path), "w", format="webm", options=options) as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            wave.astype(np.float32)[None], format="flt", layout="mono"
        )
        frame.sample_rate = rate
        for piece in [*resampler.resample(frame), None]:
            for packet in stream.encode(piece):
                container.mux(packet)
    return path


def stub_predictors(video: bool = False) -> Predictors:
    """Models for the limit tests, which never reach a model: only what `/api/health` and the
    format checks read (the task runs are replaced per test)."""
    transcriber = SimpleNamespace(
        checkpoint="stub.ckpt",
        options=DecodeOptions(),
        sample_rate=16000,
        timestamps=True,
        model=SimpleNamespace(decoder=None),
    )
    classifier = None
    if video:
        classifier = SimpleNamespace(
            checkpoint="stub-video.ckpt", classes=["a", "b"], clip_seconds=2.0, num_frames=8
        )
    return Predictors(transcriber=transcriber, classifier=classifier)


def multipart(name: str, filename: str, data: bytes, boundary: str = "b0undary") -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
