"""Audio file reading with soundfile: any rate and channel count in, mono float32 out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from avseq.errors import BadAudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
SILENCE_PEAK = 1e-4  # peak amplitude under which a waveform counts as silent
MIN_CONTRAST_DB = 12.0  # speech over the noise floor under which a stretch shows no pauses
# libsndfile's header log for a WAV whose data chunk is shorter than announced
_TRUNCATED = re.compile(r"^data\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_UNKNOWN_SIZE = 0x7FFF0000  # streamed WAVs announce a placeholder size near 2**31 or 2**32


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Reads an audio file's header, raising `BadAudioError` with the path when it is unusable."""
    path = Path(path)
    if path.is_dir():
        raise BadAudioError(f"{path}: is a folder, not an audio file; give the files inside it")
    if not path.is_file():
        raise BadAudioError(
            f"{path}: no such audio file; check the path (manifest paths are "
            "relative to the manifest)"
        )
    if path.stat().st_size == 0:
        raise BadAudioError(f"{path}: the file is empty (0 bytes); re-create or remove it")
    try:
        info = sf.info(str(path))
    except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError
        raise BadAudioError(
            f"{path}: not a readable audio file ({_short(err)}); supported: wav, flac, ogg, mp3"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise BadAudioError(f"{path}: the audio stream holds no samples; re-create or remove it")
    short = _TRUNCATED.search(info.extra_info or "")
    if short and int(short[2]) < int(short[1]) < _UNKNOWN_SIZE:
        raise BadAudioError(
            f"{path}: truncated: the header announces {short[1]} bytes of audio "
            f"but the file holds {short[2]}; re-create or re-download it"
        )
    return info


def check_waveform(wave: torch.Tensor, path: str | Path) -> None:
    """Rejects NaN/inf-filled and silent waveforms, naming the file."""
    if wave.numel() == 0:
        raise BadAudioError(f"{path}: decoded to zero samples (truncated file?); re-create it")
    if not torch.isfinite(wave).all():
        raise BadAudioError(f"{path}: the waveform holds NaN or infinite samples; re-encode it")
    if wave.abs().max() < SILENCE_PEAK:
        raise BadAudioError(
            f"{path}: the waveform is silent (peak < {SILENCE_PEAK}); remove it from the manifest"
        )


def to_mono_resampled(data: np.ndarray, orig_rate: int, sample_rate: int) -> torch.Tensor:
    """(T, C) or (T,) float array -> (T',) float32 mono tensor at `sample_rate`."""
    wave = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    if wave.ndim == 2:
        wave = wave.mean(dim=1)
    if orig_rate != sample_rate:
        wave = resampler(orig_rate, sample_rate)(wave)
    return wave


@lru_cache(maxsize=16)
def resampler(orig_rate: int, sample_rate: int) -> torchaudio.transforms.Resample:
    """A resampler whose filter kernel is computed once per rate pair."""
    return torchaudio.transforms.Resample(orig_rate, sample_rate)


def load_audio(path: str | Path, sample_rate: int, check: bool = True) -> torch.Tensor:
    """Loads a whole audio file as mono float32 at `sample_rate`.

    Args:
        path: an audio file soundfile can read (wav, flac, ogg, mp3, ...).
        sample_rate: the rate to resample to.
        check: reject silent or NaN-filled audio.

    Returns:
        (T,) float32 waveform in [-1, 1].

    Raises:
        BadAudioError: naming the file, when it is missing, empty, truncated, not audio,
            silent or NaN-filled.
    """
    info = audio_info(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:
        raise BadAudioError(
            f"{path}: could not decode the audio ({_short(err)}); the file may be "
            "truncated or corrupt: re-create it"
        ) from None
    if data.shape[0] < 0.5 * info.frames:
        raise BadAudioError(
            f"{path}: decoded {data.shape[0]} of {info.frames} samples (truncated "
            "file?); re-create it"
        )
    wave = to_mono_resampled(data, rate, sample_rate)
    if check:
        check_waveform(wave, path)
    return wave


def iter_chunks(
    path: str | Path,
    sample_rate: int,
    chunk_seconds: float,
    pause_seconds: float | None = 0.15,
) -> Iterator[tuple[float, torch.Tensor]]:
    """Streams a long file as mono chunks of at most `chunk_seconds`, cut in its pauses.

    Memory stays bounded by one chunk whatever the file's length. A chunk ends in the middle of
    the first pause of at least `pause_seconds` after some sound, so chunks are stretches of
    speech between pauses, like the utterances a recognizer is trained on; where the audio
    pauses less often, in the longest pause of the window's second half (`pause_cut`).
    Chunks put together give back the whole file.

    Yields:
        (start time in seconds, (T,) float32 waveform at `sample_rate`).
    """
    info = audio_info(path)
    rate = info.samplerate
    window = max(1, int(chunk_seconds * rate))
    pause = None if pause_seconds is None else int(pause_seconds * rate)
    start = 0
    with sf.SoundFile(str(path)) as f:
        carry = np.zeros((0, info.channels), dtype=np.float32)
        while True:
            block = f.read(window - carry.shape[0], dtype="float32", always_2d=True)
            data = np.concatenate([carry, block]) if carry.shape[0] else block
            if data.shape[0] == 0:
                break
            last = data.shape[0] < window
            cut = data.shape[0]
            if not last or pause is not None:
                cut = pause_cut(data.mean(axis=1), rate, window // 2, pause, last)
            wave = to_mono_resampled(data[:cut], rate, sample_rate)
            if not torch.isfinite(wave).all():
                raise BadAudioError(
                    f"{path}: NaN or infinite samples near {start / rate:.1f} s; re-encode the file"
                )
            yield start / rate, wave
            start += cut
            carry = data[cut:]
            if last and cut == data.shape[0]:
                break


def pause_cut(
    mono: np.ndarray, rate: int, lo: int, pause: int | None = None, whole: bool = False
) -> int:
    """Where to end a chunk of the (T,) waveform `mono`: the middle of the first pause of at
    least `pause` samples after some sound; else the middle of the longest pause (its part
    after sample `lo`); else, when the audio shows no pauses (continuous speech, steady noise),
    the middle of the quietest 20 ms after `lo`. With `whole` (the file's last stretch) the
    fallbacks give the whole of `mono`.

    Pauses are 10 ms blocks whose energy lies under the threshold `speech_segments` (in
    avseq.decoding.align) uses: 30% of the way from the noise floor (10th percentile, dB) to the
    speech level (95th), with at least `MIN_CONTRAST_DB` between the two.
    """
    hop = max(1, rate // 100)
    n = mono.shape[0] // hop
    if n < 2:
        return mono.shape[0]
    energy = (mono[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1)
    db = 10 * np.log10(energy + 1e-10)
    first = min(lo // hop, n - 2)
    floor, peak = np.percentile(db, 10), np.percentile(db, 95)
    if peak - floor >= MIN_CONTRAST_DB:
        quiet = np.flatnonzero(np.diff(np.r_[0, db < floor + 0.3 * (peak - floor), 0]))
        runs = [
            (a, b)
            for a, b in zip(quiet[::2], quiet[1::2], strict=True)
            if a > 0 and (b < n or not whole)
        ]
        for a, b in runs:  # (first, end) blocks of each pause between sounds
            if pause is not None and (b - a) * hop >= pause:
                return (a + b) * hop // 2
        if whole:
            return mono.shape[0]
        runs = [(max(a, first), b) for a, b in runs if b > first]
        if runs:
            a, b = max(reversed(runs), key=lambda r: r[1] - r[0])
            return (a + b) * hop // 2
    if whole:
        return mono.shape[0]
    pairs = energy[first:-1] + energy[first + 1 :]  # 20 ms windows on the 10 ms grid
    return (first + int(np.argmin(pairs)) + 1) * hop


def duration_seconds(path: str | Path) -> float:
    """The duration of an audio file from its header."""
    info = audio_info(path)
    return info.frames / info.samplerate


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) < 120 else text[:117] + "..."


__all__ = [
    "AUDIO_EXTENSIONS",
    "audio_info",
    "check_waveform",
    "duration_seconds",
    "iter_chunks",
    "load_audio",
    "pause_cut",
]
