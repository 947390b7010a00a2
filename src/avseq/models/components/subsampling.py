"""Convolutional subsampling front-end: two stride-2 2-D convolutions, 4x fewer frames."""

from __future__ import annotations

import torch
from torch import nn

from avseq.utils.masks import frame_mask


class Conv2dSubsampler(nn.Module):
    """(B, n_feats, F) features -> (B, F', out_dim) with F' = ceil(F / 4).

    Each convolution's output is zeroed past every sequence's length, so a sequence gives the
    same output alone or padded inside a batch.

    Args:
        n_feats: feature bands per frame (e.g. 80 mels).
        out_dim: output size per frame.
        channels: convolution channels.
    """

    def __init__(self, n_feats: int, out_dim: int, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.proj = nn.Linear(channels * ((n_feats + 3) // 4), out_dim)
        self.out_dim = out_dim

    @staticmethod
    def _halve(lengths: torch.Tensor) -> torch.Tensor:
        return (lengths - 1) // 2 + 1

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self._halve(self._halve(lengths))

    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats.unsqueeze(1)  # (B, 1, n_feats, F)
        for conv in (self.conv1, self.conv2):
            x = torch.relu(conv(x))  # (B, C, n_feats/2^k, F/2^k)
            lengths = self._halve(lengths).clamp(min=1, max=x.size(-1))
            x = x * frame_mask(lengths, x.size(-1))[:, None, None, :]
        B, C, D, T = x.shape
        x = self.proj(x.permute(0, 3, 1, 2).reshape(B, T, C * D))  # (B, F/4, out_dim)
        return x, lengths
