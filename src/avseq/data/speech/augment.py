"""Waveform augmentation applied when training items are loaded: noise, gain, speed."""

from __future__ import annotations

import torch
import torchaudio.functional as AF


def coloured_noise(
    n: int, exponent: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n,) noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = torch.fft.rfft(torch.randn(n, generator=generator))
    freqs = torch.arange(1, spectrum.numel() + 1, dtype=torch.float32)
    return torch.fft.irfft(spectrum / freqs ** (exponent / 2), n=n)


class WaveAugment:
    """Random gain, additive coloured noise at a random SNR, and optional speed perturbation.

    Args:
        noise_prob: probability of adding noise to an utterance.
        snr_db: (low, high) signal-to-noise ratio range in dB.
        gain_db: maximum absolute random gain in dB.
        speed_prob: probability of speed perturbation (resampling; changes pitch and tempo).
        speeds: speed factors to choose from.
        sample_rate: the waveform's rate (for speed perturbation).
    """

    def __init__(
        self,
        noise_prob: float = 0.3,
        snr_db: tuple[float, float] = (10.0, 30.0),
        gain_db: float = 6.0,
        speed_prob: float = 0.0,
        speeds: tuple[float, ...] = (0.9, 1.1),
        sample_rate: int = 16000,
    ) -> None:
        if not 0 <= noise_prob <= 1 or not 0 <= speed_prob <= 1:
            raise ValueError(f"probabilities must be in [0, 1], got {noise_prob}, {speed_prob}")
        if snr_db[0] > snr_db[1]:
            raise ValueError(f"snr_db must be (low, high), got {snr_db}")
        self.noise_prob = noise_prob
        self.snr_db = tuple(snr_db)
        self.gain_db = gain_db
        self.speed_prob = speed_prob
        self.speeds = tuple(speeds)
        self.sample_rate = sample_rate

    def __call__(
        self, wave: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(T,) waveform -> (T',) augmented waveform (T' != T only with speed perturbation)."""

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * torch.rand((), generator=generator).item()

        if self.speed_prob and uniform(0, 1) < self.speed_prob:
            speed = self.speeds[int(uniform(0, len(self.speeds))) % len(self.speeds)]
            wave = AF.resample(wave, int(self.sample_rate * speed), self.sample_rate)
        if self.noise_prob and uniform(0, 1) < self.noise_prob:
            noise = coloured_noise(wave.numel(), uniform(0, 2), generator)
            snr = uniform(*self.snr_db)
            signal_power = wave.pow(2).mean().clamp_min(1e-10)
            noise_power = noise.pow(2).mean().clamp_min(1e-10)
            wave = wave + noise * torch.sqrt(signal_power / (noise_power * 10 ** (snr / 10)))
        if self.gain_db:
            wave = wave * 10 ** (uniform(-self.gain_db, self.gain_db) / 20)
        peak = wave.abs().max()
        return wave / peak if peak > 1 else wave
