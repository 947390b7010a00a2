"""A DeepSpeech2-style recognizer: log-mel -> conv subsampling (4x) -> BiRNN -> CTC head.

Amodei et al., 2016, "Deep Speech 2"; Graves et al., 2006, "Connectionist Temporal Classification".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avseq.features.audio import LogMel, SpecAugment
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler


class SpeechRecognizer(nn.Module):
    """Waveforms in, per-frame CTC logits out. Features are computed on the batch's device.

    Args:
        vocab_size: output classes including the CTC blank.
        sample_rate, n_fft, hop_length, n_mels: log-mel front-end.
        conv_channels: channels of the subsampling convolutions.
        rnn_type, hidden_size, num_layers, bidirectional, dropout: the recurrent encoder.
        freq_masks, freq_width, time_masks, time_width: SpecAugment (training only);
            freq_masks=time_masks=0 disables it.
    """

    def __init__(
        self,
        vocab_size: int,
        sample_rate: int = 16000,
        n_fft: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        conv_channels: int = 32,
        rnn_type: str = "gru",
        hidden_size: int = 256,
        num_layers: int = 3,
        bidirectional: bool = True,
        dropout: float = 0.1,
        freq_masks: int = 2,
        freq_width: int = 15,
        time_masks: int = 2,
        time_width: int = 30,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "__class__")
        }
        self.sample_rate = sample_rate
        self.features = LogMel(sample_rate, n_fft, hop_length, n_mels)
        self.spec_augment = SpecAugment(freq_masks, freq_width, time_masks, time_width)
        self.subsampler = Conv2dSubsampler(n_mels, hidden_size, conv_channels)
        self.encoder = RNNEncoder(
            hidden_size, hidden_size, num_layers, rnn_type, bidirectional, dropout
        )
        self.head = CTCHead(self.encoder.output_size, vocab_size)

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (after 4x subsampling)."""
        return 4 * self.features.hop_length / self.sample_rate

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) sample counts -> (B, F, vocab_size) logits, (B,) frame counts."""
        feats, frames = self.features(waves, lengths)  # (B, n_mels, F)
        if self.training:
            feats = self.spec_augment(feats)
        x, frames = self.subsampler(feats, frames)  # (B, F/4, hidden)
        states = self.encoder(x, frames)  # (B, F/4, output_size)
        return self.head(states), frames
