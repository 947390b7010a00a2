"""Audio front-end: log-mel spectrogram with per-utterance normalisation, and SpecAugment.

SpecAugment: Park et al., 2019, "SpecAugment: A Simple Data Augmentation Method for ASR".
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from avseq.utils.masks import frame_mask


class LogMel(nn.Module):
    """Waveforms to normalised log-mel features, computed on the batch's device in float32.

    Args:
        sample_rate: input rate in Hz.
        n_fft: FFT size (400 = 25 ms at 16 kHz).
        hop_length: frame shift (160 = 10 ms at 16 kHz).
        n_mels: mel bands.
    """

    def __init__(
        self, sample_rate: int = 16000, n_fft: int = 400, hop_length: int = 160, n_mels: int = 80
    ) -> None:
        super().__init__()
        if n_mels < 1 or hop_length < 1 or n_fft < hop_length:
            raise ValueError(
                f"bad front-end sizes: n_fft={n_fft}, hop={hop_length}, n_mels={n_mels}"
            )
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.n_fft = n_fft
        # center=False: a frame never reaches past its utterance, so padding changes nothing
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            center=False,
        )

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths.clamp(min=self.n_fft) - self.n_fft) // self.hop_length + 1

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) lengths -> (B, n_mels, F) features, (B,) frame lengths."""
        if waves.size(-1) < self.n_fft:
            waves = torch.nn.functional.pad(waves, (0, self.n_fft - waves.size(-1)))
        with torch.autocast(device_type=waves.device.type, enabled=False):
            feats = (self.mel(waves.float()) + 1e-6).log()  # (B, n_mels, F)
            frames = self.output_lengths(lengths).clamp(max=feats.size(-1))
            mask = frame_mask(frames, feats.size(-1))[:, None, :]  # (B, 1, F)
            count = frames[:, None, None].clamp(min=1)
            mean = (feats * mask).sum(-1, keepdim=True) / count
            var = (((feats - mean) * mask) ** 2).sum(-1, keepdim=True) / count
            feats = (feats - mean) / (var + 1e-5).sqrt()
            return feats * mask, frames


class SpecAugment(nn.Module):
    """Random frequency and time masks, independent per utterance (training only).

    Args:
        freq_masks: number of frequency masks.
        freq_width: maximum width of each frequency mask (bands).
        time_masks: number of time masks.
        time_width: maximum width of each time mask (frames).
    """

    def __init__(
        self, freq_masks: int = 2, freq_width: int = 15, time_masks: int = 2, time_width: int = 30
    ) -> None:
        super().__init__()
        self.freq = nn.ModuleList(
            torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
            for _ in range(freq_masks)
        )
        self.time = nn.ModuleList(
            torchaudio.transforms.TimeMasking(time_width, iid_masks=True) for _ in range(time_masks)
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, F) -> (B, n_mels, F) with masked bands and frames set to 0."""
        x = feats.unsqueeze(1)  # (B, 1, n_mels, F): iid masks need a channel dim
        for mask in [*self.freq, *self.time]:
            x = mask(x)
        return x.squeeze(1)
