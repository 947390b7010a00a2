"""The video encoder: a frame CNN on every frame, then the shared recurrent encoder over time."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avseq.features.audio import frame_mask
from avseq.features.frames import FrameEncoder
from avseq.models.components.attention import AttentionPoolingClassifier
from avseq.models.components.rnn_encoder import RNNEncoder


class VideoEncoder(nn.Module):
    """(B, T, 3, H, W) uint8 frames + lengths -> (B, T, output_size) states.

    The frame CNN runs only on real frames (padding costs nothing and cannot leak into
    BatchNorm statistics); precomputed frame features (B, T, D) can be given instead.
    """

    def __init__(
        self,
        frame_encoder: dict[str, Any] | None = None,
        rnn_type: str = "gru",
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.frames = FrameEncoder(**(frame_encoder or {}))
        self.rnn = RNNEncoder(
            self.frames.out_dim, hidden_size, num_layers, rnn_type, bidirectional, dropout
        )
        self.output_size = self.rnn.output_size

    def frame_features(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) uint8 -> (B, T, D) float, zeros on padded frames."""
        b, t = frames.shape[:2]
        mask = frame_mask(lengths.to(frames.device), t)
        if self.frames.motion:  # each frame with the one before it (the first with itself)
            frames = torch.cat([frames, torch.cat([frames[:, :1], frames[:, :-1]], 1)], dim=2)
        feats = self.frames(frames[mask])  # (N_valid, D)
        out = feats.new_zeros(b, t, feats.size(-1))
        out[mask] = feats
        return out

    def forward(
        self,
        frames: torch.Tensor | None,
        lengths: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if features is None:
            features = self.frame_features(frames, lengths)
        return self.rnn(features, lengths)


class VideoClassifier(nn.Module):
    """Frames -> VideoEncoder -> attention pooling -> class logits (+ attention over time).

    Args:
        num_classes: output classes.
        frame_encoder: `FrameEncoder` arguments (kind, image_size, out_dim, weights, freeze).
        rnn_type, hidden_size, num_layers, bidirectional, dropout: the recurrent encoder.
        attn_size: hidden size of the pooling attention.
    """

    def __init__(
        self,
        num_classes: int,
        frame_encoder: dict[str, Any] | None = None,
        rnn_type: str = "gru",
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.1,
        attn_size: int = 128,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "__class__")
        }
        self.encoder = VideoEncoder(
            frame_encoder, rnn_type, hidden_size, num_layers, bidirectional, dropout
        )
        self.head = AttentionPoolingClassifier(
            self.encoder.output_size, num_classes, attn_size, dropout
        )

    def forward(
        self,
        frames: torch.Tensor | None,
        lengths: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> logits (B, num_classes), attention weights (B, T)."""
        states = self.encoder(frames, lengths, features)
        return self.head(states, lengths)
