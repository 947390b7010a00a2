"""The training-time channel chain: each stage does what its name says, within its settings,
and the same item seed gives the same audio without disturbing the global generators."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.data.speech.augment import WaveAugment, readable_sample
from avseq.data.speech.rooms import room_bank
from avseq.errors import AvseqError

RATE = 16000
OFF = {"speed_prob": 0.0, "noise_prob": 0.0, "gain_db": 0.0}


def voiced(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A speech-like signal: harmonics of a wandering pitch, amplitude-modulated."""
    t = torch.arange(int(seconds * RATE)) / RATE
    gen = torch.Generator().manual_seed(seed)
    f0 = 120 + 30 * torch.sin(2 * torch.pi * 0.7 * t + torch.rand((), generator=gen) * 6)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / RATE
    wave = sum(torch.sin(k * phase) / k for k in range(1, 20))
    return (0.3 * wave * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t))).float()


def seeded(i: int) -> torch.Generator:
    return torch.Generator().manual_seed(i)


def band_energy(wave: torch.Tensor, low: float, high: float) -> float:
    spectrum = torch.fft.rfft(wave).abs().pow(2)
    freqs = torch.fft.rfftfreq(wave.numel(), 1 / RATE)
    return spectrum[(freqs >= low) & (freqs < high)].sum().item()


def test_same_item_seed_same_audio_and_global_generators_untouched(tmp_path: Path) -> None:
    aug = WaveAugment(
        speed_prob=1.0, noise_prob=1.0, reverb_prob=1.0, rooms=4, rooms_dir=str(tmp_path),
        codec_prob=1.0, clip_prob=1.0, pitch_prob=1.0,
    )  # fmt: skip
    wave = voiced()
    random.seed(1)
    np.random.seed(1)
    before = (random.random(), np.random.random())
    random.seed(1)
    np.random.seed(1)
    a, b = aug(wave, seeded(7)), aug(wave, seeded(7))
    assert torch.equal(a, b) and not torch.equal(a, aug(wave, seeded(8)))
    assert (random.random(), np.random.random()) == before  # as if nothing had drawn
    assert a.dtype == torch.float32 and a.dim() == 1 and a.abs().max() <= 1.0


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_changes_duration_by_the_factor(speed: float) -> None:
    aug = WaveAugment(**{**OFF, "speed_prob": 1.0}, speeds=[speed])
    wave = voiced(2.0)
    out = aug(wave, seeded(0))
    assert out.numel() == pytest.approx(wave.numel() / speed, rel=0.002)


def test_noise_snr_within_its_range() -> None:
    aug = WaveAugment(**{**OFF, "noise_prob": 1.0}, snr_db=[10.0, 20.0])
    wave = voiced(1.0)
    for i in range(8):
        out = aug(wave, seeded(i))
        noise = out - wave
        snr = 10 * torch.log10(wave.pow(2).mean() / noise.pow(2).mean()).item()
        assert 9.5 <= snr <= 20.5


def test_reverberation_lengthens_the_tail(tmp_path: Path) -> None:
    aug = WaveAugment(**OFF, reverb_prob=1.0, rooms=3, rooms_dir=str(tmp_path))
    wave = torch.cat([voiced(0.5), torch.zeros(RATE // 2)])
    out = aug(wave, seeded(0))
    assert out.numel() == wave.numel()
    tail = slice(RATE // 2 + 400, RATE // 2 + 2400)  # 25-150 ms after the speech stops
    assert wave[tail].abs().max() == 0 and out[tail].pow(2).mean() > 1e-6
    # the bank is simulated once: the same files, not rewritten
    paths = room_bank(tmp_path, 3, RATE)
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert room_bank(tmp_path, 3, RATE) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps


def test_telephone_removes_high_and_low_frequencies() -> None:
    aug = WaveAugment(**OFF, telephone_prob=1.0)
    wave = voiced(1.0) + 0.05 * torch.randn(RATE, generator=seeded(1))
    out = aug(wave, seeded(0))
    ratio_high = band_energy(out, 4500, 8000) / band_energy(wave, 4500, 8000)
    ratio_mid = band_energy(out, 800, 2500) / band_energy(wave, 800, 2500)
    assert ratio_high < 0.05 and ratio_mid > 0.5


def test_codec_keeps_length_and_changes_samples() -> None:
    aug = WaveAugment(**OFF, codec_prob=1.0, codec_kbps=[16, 16])
    wave = voiced(1.0)
    out = aug(wave, seeded(0))
    assert out.numel() == wave.numel() and not torch.allclose(out, wave, atol=1e-3)
    # still the same speech, time-aligned (no encoder delay left in)
    assert torch.corrcoef(torch.stack([wave, out]))[0, 1] > 0.9


def test_background_speech_is_another_utterance_at_its_snr(tmp_path: Path) -> None:
    other = tmp_path / "other.wav"
    sf.write(str(other), voiced(1.0, seed=5).numpy() * 0.5, RATE)
    aug = WaveAugment(**OFF, babble_prob=1.0, babble_snr_db=[15.0, 15.0])
    aug.set_background([other])
    wave = voiced(1.0)
    noise = aug(wave, seeded(0)) - wave
    snr = 10 * torch.log10(wave.pow(2).mean() / noise.pow(2).mean()).item()
    assert snr == pytest.approx(15.0, abs=0.5)


def test_gain_stays_within_its_range_and_off_means_unchanged() -> None:
    wave = voiced(0.5)
    assert torch.equal(WaveAugment(**OFF)(wave, seeded(0)), wave)
    aug = WaveAugment(**{**OFF, "gain_db": 6.0})
    for i in range(8):
        ratio = aug(wave * 0.1, seeded(i)).abs().max() / (wave * 0.1).abs().max()
        assert 10 ** (-6.05 / 20) <= ratio.item() <= 10 ** (6.05 / 20)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"reverb_prob": 1.5}, "reverb_prob must be a probability"),
        ({"snr_db": [30.0, 10.0]}, r"snr_db must be \[low, high\]"),
        ({"speeds": [0.0]}, "speeds must be positive"),
    ],
)
def test_bad_settings_are_one_line_errors(setting: dict, message: str) -> None:
    with pytest.raises(AvseqError, match=message):
        WaveAugment(**setting)


def test_background_speech_leaves_out_unreadable_files(tmp_path: Path) -> None:
    """A training list with a broken file (which the data checks skip) still trains: background
    speech is drawn only from files that open."""
    good = tmp_path / "good.wav"
    sf.write(str(good), voiced(0.5).numpy(), RATE)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    aug = WaveAugment(**OFF, babble_prob=1.0)
    aug.set_background([broken, tmp_path / "missing.wav", good])
    assert readable_sample(aug.background, 10) == [str(good)]
    wave = voiced(0.5)
    assert not torch.equal(aug(wave, seeded(0)), wave)
