"""The work behind each endpoint, run on a worker thread: check the upload by decoding it, call
the task's predictor, and shape its answer for JSON (no server paths in it)."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avseq.decoding.align import to_srt
from avseq.errors import AvseqError
from avseq.inference.speech import Decoded, Transcriber
from avseq.media.audio import load_audio
from avseq.serve.limits import ServerLimits
from avseq.serve.predictors import Predictors
from avseq.serve.probe import check_video, prepare_audio

SPECTROGRAM_COLUMNS = 1200  # a page-wide image; longer audio is averaged down to this


def heatmap(values: np.ndarray, **extra: Any) -> dict[str, Any]:
    """A (rows, cols) array in [0, 1] as uint8 bytes, row-major, base64: compact enough for a
    spectrogram or an alignment of minutes of audio, and drawn directly on a canvas."""
    data = np.clip(np.nan_to_num(values) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return {
        "rows": int(data.shape[0]),
        "cols": int(data.shape[1]),
        "data": base64.b64encode(data.tobytes()).decode("ascii"),
        **extra,
    }


def pool_columns(values: np.ndarray, columns: int) -> tuple[np.ndarray, int]:
    """Averages a (rows, T) array down to at most `columns` columns; returns it and the factor."""
    factor = max(1, math.ceil(values.shape[1] / columns))
    keep = values.shape[1] // factor * factor or values.shape[1]
    if factor == 1 or keep < factor:
        return values, 1
    return values[:, :keep].reshape(values.shape[0], -1, factor).mean(-1), factor


@torch.inference_mode()
def spectrogram(transcriber: Transcriber, path: Path) -> dict[str, Any]:
    """The model's front-end features as a 0-255 image, low bands in row 0, scaled between the
    5th percentile and the peak."""
    wave = load_audio(path, transcriber.sample_rate, check=False)
    frontend = transcriber.model.features
    device = next(transcriber.model.parameters()).device
    waves = wave[None].to(device).float()
    if hasattr(frontend, "mel"):  # LogMel: its power spectrogram, before the normalisation
        mel = frontend.mel(waves)[0].clamp(min=1e-10).log10().cpu().numpy()
    else:  # another front-end: what the encoder sees
        mel = frontend(waves, torch.tensor([wave.numel()], device=device))[0][0].cpu().numpy()
    mel, factor = pool_columns(mel, SPECTROGRAM_COLUMNS)
    lo, hi = np.percentile(mel, 5), mel.max()
    scaled = (mel - lo) / max(hi - lo, 1e-6)
    seconds = factor * frontend.hop_length / transcriber.sample_rate
    return heatmap(scaled, seconds_per_column=seconds)


def speech_attention(transcriber: Transcriber, decoded: Decoded) -> dict[str, Any] | None:
    """The attention decoder's alignment: a row per output unit (and one for end of sentence)
    over the encoder frames, weights x 255."""
    if decoded.attention is None:
        return None
    tok = transcriber.tokenizer
    units = tok.units
    try:
        labels = ["␣" if units[i - 1] == "|" else units[i - 1] for i in tok.encode(decoded.text)]
    except ValueError:  # a transcript the tokenizer cannot spell back: rows unnamed
        labels = []
    weights = decoded.attention.float().cpu().numpy()
    labels = [*labels, "<eos>"][: weights.shape[0]]
    labels += [""] * (weights.shape[0] - len(labels))
    return heatmap(weights, units=labels, seconds_per_column=transcriber.model.frame_seconds)


def transcribe(
    predictors: Predictors, path: Path, limits: ServerLimits, srt: bool
) -> dict[str, Any]:
    """Transcript, word times, optional SRT, spectrogram and attention of an audio upload."""
    transcriber = predictors.transcriber
    audio, duration = prepare_audio(path, transcriber.sample_rate, limits)
    [(_, decoded, error)] = list(transcriber.transcribe_files([audio]))
    if decoded is None:
        raise AvseqError(error or f"{path}: the audio could not be transcribed")
    words = [w.as_dict() for w in decoded.words] if decoded.words is not None else None
    result: dict[str, Any] = {
        "text": decoded.text,
        "duration": round(duration, 3),
        "words": words,
        "spectrogram": spectrogram(transcriber, audio),
        "attention": speech_attention(transcriber, decoded),
    }
    if srt:
        result["srt"] = to_srt(decoded.words or [])
    return result


def classify(predictors: Predictors, path: Path, limits: ServerLimits) -> dict[str, Any]:
    """Top labels of a video upload, and a timeline of windows when it is long."""
    classifier = predictors.classifier
    check_video(path, limits, reads_all_frames=False)
    result = classifier.classify_file(path, top_k=5)
    result.pop("video", None)
    result["clip_seconds"] = classifier.clip_seconds
    return result


def caption(predictors: Predictors, path: Path, limits: ServerLimits) -> dict[str, Any]:
    """A caption of a video upload, alternatives, and the frames-by-words attention."""
    check_video(path, limits, reads_all_frames=True)
    result = predictors.captioner.caption_file(path, attention=True)
    result.pop("video", None)
    return result


TASK_RUNS = {"transcribe": transcribe, "classify": classify, "caption": caption}
