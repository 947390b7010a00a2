"""Waveform augmentation applied when training items are loaded: the real-world channel.

Speech recorded by a person reaches a recognizer through a room, a microphone, maybe a phone
line or a codec, with other sounds around it. `WaveAugment` simulates each of these, every one
with its own probability, in the order they happen: speed (torchaudio resampling), pitch, room
reverberation (simulated rooms, `rooms.room_bank`), speech of other utterances behind the
talker, coloured noise, band-limiting or a telephone channel, MP3 at a low bitrate, gain and
clipping. Everything but speed comes from audiomentations.

audiomentations draws from Python's and numpy's global generators; each call seeds both from
the item's own generator and restores them afterwards, so an item is augmented the same way
in any worker and in a resumed run.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from avseq.data.base import check_probability
from avseq.errors import AvseqError

log = logging.getLogger(__name__)
BACKGROUND_FILES = 500  # background speech is drawn from this many training utterances


@contextmanager
def seeded_globals(seed: int | None) -> Iterator[None]:
    """Python's and numpy's global generators seeded with `seed` inside, restored after (left
    alone when `seed` is None)."""
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def readable_sample(paths: Sequence[str], count: int) -> list[str]:
    """Up to `count` of `paths` (a fixed random sample) that soundfile can open: background
    speech never reads a file the data checks would skip."""
    order = list(paths)
    random.Random(0).shuffle(order)
    good: list[str] = []
    for path in order:
        try:
            if sf.info(path).frames > 0:
                good.append(path)
        except (RuntimeError, OSError):  # soundfile.LibsndfileError is a RuntimeError
            continue
        if len(good) == count:
            break
    return good


def _check_range(name: str, value: Sequence[float]) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if low > high:
        raise AvseqError(f"data.augment.{name} must be [low, high], got {list(value)}")
    return low, high


class WaveAugment:
    """The training-time channel chain; each stage applied with its own probability.

    Args:
        sample_rate: the waveforms' rate.
        speed_prob: probability of speed perturbation (resampling: tempo and pitch together,
            as Kaldi's 3-way speed perturbation), by a factor drawn from `speeds`.
        speeds: speed factors.
        pitch_prob: probability of a pitch shift of up to `pitch_semitones` (tempo kept).
        pitch_semitones: largest shift, up or down.
        reverb_prob: probability of convolving with a simulated room (`rooms.room_bank`).
        rooms: number of simulated rooms in the bank.
        rooms_dir: where the bank is written (once; None: no reverberation).
        babble_prob: probability of mixing another training utterance behind the speech.
        babble_snr_db: (low, high) speech-to-background ratio.
        noise_prob: probability of adding coloured noise (white to brown).
        snr_db: (low, high) signal-to-noise ratio of that noise.
        lowpass_prob: probability of band-limiting (a microphone or a low sample rate).
        lowpass_hz: (low, high) cut-off.
        telephone_prob: probability of a telephone channel (300-3400 Hz).
        codec_prob: probability of MP3 compression.
        codec_kbps: (low, high) MP3 bitrate.
        gain_db: largest random gain, up or down.
        clip_prob: probability of clipping distortion (the loudest 0-10% of samples cut).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        speed_prob: float = 0.5,
        speeds: Sequence[float] = (0.9, 0.95, 1.05, 1.1),
        pitch_prob: float = 0.0,
        pitch_semitones: float = 2.0,
        reverb_prob: float = 0.0,
        rooms: int = 200,
        rooms_dir: str | None = None,
        babble_prob: float = 0.0,
        babble_snr_db: Sequence[float] = (10.0, 25.0),
        noise_prob: float = 0.3,
        snr_db: Sequence[float] = (10.0, 30.0),
        lowpass_prob: float = 0.0,
        lowpass_hz: Sequence[float] = (2500.0, 7000.0),
        telephone_prob: float = 0.0,
        codec_prob: float = 0.0,
        codec_kbps: Sequence[float] = (16, 64),
        gain_db: float = 6.0,
        clip_prob: float = 0.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.speed_prob = check_probability("speed_prob", speed_prob)
        self.speeds = tuple(float(s) for s in speeds)
        if not self.speeds or min(self.speeds) <= 0:
            raise AvseqError(f"data.augment.speeds must be positive factors, got {list(speeds)}")
        self.settings: dict[str, Any] = {
            "pitch": (check_probability("pitch_prob", pitch_prob), float(pitch_semitones)),
            "reverb": (check_probability("reverb_prob", reverb_prob), rooms, rooms_dir),
            "babble": (
                check_probability("babble_prob", babble_prob),
                _check_range("babble_snr_db", babble_snr_db),
            ),
            "noise": (check_probability("noise_prob", noise_prob), _check_range("snr_db", snr_db)),
            "lowpass": (
                check_probability("lowpass_prob", lowpass_prob),
                _check_range("lowpass_hz", lowpass_hz),
            ),
            "telephone": check_probability("telephone_prob", telephone_prob),
            "codec": (
                check_probability("codec_prob", codec_prob),
                _check_range("codec_kbps", codec_kbps),
            ),
            "gain": float(gain_db),
            "clip": check_probability("clip_prob", clip_prob),
        }
        self.background: list[str] = []
        self._chain: Any = None  # built on first use, in the process that uses it

    def set_background(self, paths: Sequence[str | Path]) -> None:
        """The recordings mixed in as background speech (the training utterances)."""
        self.background = [str(p) for p in paths]
        self._chain = None

    def __getstate__(self) -> dict[str, Any]:  # workers build their own chain
        return {**self.__dict__, "_chain": None}

    def _build(self) -> Any:
        import audiomentations as A

        from avseq.data.speech.rooms import room_bank

        s = self.settings
        stages: list[Any] = []
        pitch_p, semitones = s["pitch"]
        if pitch_p:
            stages.append(A.PitchShift(-semitones, semitones, p=pitch_p))
        reverb_p, rooms, rooms_dir = s["reverb"]
        if reverb_p and rooms_dir and rooms:
            stages.append(
                A.ApplyImpulseResponse(room_bank(rooms_dir, rooms, self.sample_rate), p=reverb_p)
            )
        babble_p, (low, high) = s["babble"]
        background = readable_sample(self.background, BACKGROUND_FILES) if babble_p else []
        if background:
            stages.append(A.AddBackgroundNoise(background, low, high, p=babble_p))
        noise_p, (low, high) = s["noise"]
        if noise_p:
            stages.append(A.AddColorNoise(low, high, min_f_decay=-6.0, max_f_decay=0.0, p=noise_p))
        lowpass_p, (low, high) = s["lowpass"]
        if lowpass_p:
            stages.append(A.LowPassFilter(low, high, p=lowpass_p))
        if s["telephone"]:
            band = [A.HighPassFilter(250, 400, p=1.0), A.LowPassFilter(3000, 3600, p=1.0)]
            stages.append(A.Compose(band, p=s["telephone"]))
        codec_p, (low, high) = s["codec"]
        if codec_p:
            stages.append(A.Mp3Compression(int(low), int(high), p=codec_p))
        if s["gain"]:
            stages.append(A.Gain(-s["gain"], s["gain"], p=1.0))
        if s["clip"]:
            stages.append(A.ClippingDistortion(0, 10, p=s["clip"]))
        return A.Compose(stages) if stages else None

    def __call__(
        self, wave: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(T,) waveform -> (T',) augmented waveform (T' != T only with speed perturbation)."""
        if self.speed_prob and torch.rand((), generator=generator).item() < self.speed_prob:
            pick = int(torch.randint(len(self.speeds), (), generator=generator))
            speed = self.speeds[pick]
            wave = AF.resample(wave, round(self.sample_rate * speed), self.sample_rate)
        if self._chain is None:
            self._chain = self._build()
        if self._chain is not None and wave.numel():
            seed = int(torch.randint(2**62, (), generator=generator)) if generator else None
            try:
                with seeded_globals(seed):
                    out = self._chain(
                        samples=wave.numpy().astype(np.float32), sample_rate=self.sample_rate
                    )
                wave = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
            except Exception as err:  # one odd item must not end a training run
                log.warning("augmentation failed (item left as it is): %s", err)
        peak = wave.abs().max() if wave.numel() else wave.new_zeros(())
        return wave / peak if peak > 1 else wave
