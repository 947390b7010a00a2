"""A DeepSpeech2-style recognizer: log-mel -> conv subsampling (4x) -> BiRNN -> CTC head, and
optionally a Listen-Attend-Spell attention decoder on the same encoder (joint CTC/attention).

Amodei et al., 2016, "Deep Speech 2"; Graves et al., 2006, "Connectionist Temporal
Classification"; Chan et al., 2016, "Listen, Attend and Spell"; Kim et al., 2017, "Joint
CTC-Attention Based End-to-End Speech Recognition Using Multi-Task Learning".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avseq.features.audio import LogMel, SpecAugment
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.utils.masks import frame_mask


class SpeechRecognizer(nn.Module):
    """Waveforms in, per-frame CTC logits out. Features are computed on the batch's device.

    Args:
        vocab_size: output classes including the CTC blank.
        sample_rate, n_fft, hop_length, n_mels: log-mel front-end.
        conv_channels: channels of the subsampling convolutions.
        rnn_type, hidden_size, num_layers, bidirectional, dropout: the recurrent encoder.
        freq_masks, freq_width, time_masks, time_width: SpecAugment (training only);
            freq_masks=time_masks=0 disables it.
        decoder: `AttentionDecoder` arguments (embed_size, hidden_size, attn_size, dropout,
            location_filters, location_kernel) for an attention head beside the CTC head;
            None for CTC only. Its tokens are the CTC ids (blank = padding) plus `bos` and
            `eos` = vocab_size, vocab_size + 1.
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
        decoder: dict[str, Any] | None = None,
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
        self.decoder = None
        if decoder is not None:
            self.decoder = AttentionDecoder(
                vocab_size + 2,
                self.encoder.output_size,
                **decoder,
                pad=0,
                bos=vocab_size,
                eos=vocab_size + 1,
            )

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (after 4x subsampling)."""
        return 4 * self.features.hop_length / self.sample_rate

    def encode(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) sample counts -> (B, F, output_size) encoder states, (B,) frame
        counts."""
        feats, frames = self.features(waves, lengths)  # (B, n_mels, F)
        if self.training:
            feats = self.spec_augment(feats)
        x, frames = self.subsampler(feats, frames)  # (B, F/4, hidden)
        return self.encoder(x, frames), frames  # (B, F/4, output_size)

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) sample counts -> (B, F, vocab_size) CTC logits, (B,) frame
        counts."""
        states, frames = self.encode(waves, lengths)
        return self.head(states), frames

    def attention_logits(
        self,
        states: torch.Tensor,
        frames: torch.Tensor,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced attention decoder: (B, L) CTC token ids padded with 0 ->
        logits (B, L + 1, vocab_size + 2) and their targets (B, L + 1): the tokens then `eos`,
        0 (padding) after."""
        if self.decoder is None:
            raise ValueError("this recognizer has no attention decoder")
        dec = self.decoder
        b = tokens.size(0)
        targets = torch.cat([tokens, tokens.new_zeros(b, 1)], 1)
        targets[torch.arange(b, device=tokens.device), token_lengths] = dec.eos
        inputs = torch.cat([tokens.new_full((b, 1), dec.bos), targets], 1)
        mask = frame_mask(frames.to(states.device), states.size(1))
        logits, _ = dec(states, mask, inputs)
        return logits, targets
