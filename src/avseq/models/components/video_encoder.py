"""The video encoder: a frame CNN on every frame, then the shared recurrent encoder over time."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avseq.features.frames import FrameEncoder
from avseq.models.components.attention import AttentionPoolingClassifier
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.utils.masks import frame_mask


class VideoEncoder(nn.Module):
    """(B, T, 3, H, W) uint8 frames + lengths -> (B, T, output_size) states.

    The frame CNN runs only on real frames (padding costs nothing and cannot leak into
    BatchNorm statistics); precomputed frame features (B, T, D) can be given instead.
    With `frame_skip`, each state also carries its frame's features (B, T, rnn + D): what a
    frame looks like reaches the heads without passing through the recurrence.
    """

    def __init__(
        self,
        frame_encoder: dict[str, Any] | None = None,
        rnn_type: str = "gru",
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.1,
        frame_skip: bool = False,
    ) -> None:
        super().__init__()
        self.frames = FrameEncoder(**(frame_encoder or {}))
        self.rnn = RNNEncoder(
            self.frames.out_dim, hidden_size, num_layers, rnn_type, bidirectional, dropout
        )
        self.frame_skip = frame_skip
        self.output_size = self.rnn.output_size + (self.frames.out_dim if frame_skip else 0)

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
        states = self.rnn(features, lengths)
        if self.frame_skip:
            states = torch.cat([states, features.to(states.dtype)], dim=-1)
        return states

    def frame_part(self, states: torch.Tensor) -> torch.Tensor:
        """The frame features inside `frame_skip` states (their last `frames.out_dim`)."""
        if not self.frame_skip:
            raise ValueError("these states carry no frame features (frame_skip is off)")
        return states[..., -self.frames.out_dim :]


class VideoModel(nn.Module):
    """One video encoder with an action head, a caption decoder, or both on the same states.

    Args:
        num_classes: action classes (0: no action head).
        frame_encoder: `FrameEncoder` arguments (kind, image_size, out_dim, weights, freeze).
        rnn_type, hidden_size, num_layers, bidirectional, dropout: the recurrent encoder.
        frame_skip: the states also carry the frame features (see `VideoEncoder`).
        attn_size: hidden size of the pooling attention.
        vocab_size: caption words including the special tokens (0: no caption decoder).
        decoder: `AttentionDecoder` arguments (embed_size, hidden_size, attn_size, dropout).
        concepts: with a decoder, also detect which words a video's captions use (a
            multi-label head on attention-pooled frame features: semantic concepts, as in Gan
            et al., 2017, "Semantic Compositional Networks"); their probabilities join the
            decoder's initial state. Needs `frame_skip` (the states then carry the frame
            features): what a frame shows (colour, shape) is learned by the frame CNN without
            pulling the recurrent encoder away from the motion the action head needs.
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
        vocab_size: int = 0,
        decoder: dict[str, Any] | None = None,
        concepts: bool = False,
        frame_skip: bool = False,
    ) -> None:
        super().__init__()
        if num_classes <= 0 and vocab_size <= 0:
            raise ValueError("a video model needs action classes, a caption vocabulary or both")
        self.config: dict[str, Any] = {
            k: v for k, v in locals().items() if k not in ("self", "__class__")
        }
        self.encoder = VideoEncoder(
            frame_encoder, rnn_type, hidden_size, num_layers, bidirectional, dropout, frame_skip
        )
        self.head = (
            AttentionPoolingClassifier(self.encoder.output_size, num_classes, attn_size, dropout)
            if num_classes > 0
            else None
        )
        concepts = concepts and vocab_size > 0
        if concepts and not frame_skip:
            raise ValueError(
                "the concept detector reads the frame features: set model.net.frame_skip=true "
                "(or model.concept_weight=0)"
            )
        self.concepts = (
            AttentionPoolingClassifier(self.encoder.frames.out_dim, vocab_size, attn_size, dropout)
            if concepts
            else None
        )
        if self.concepts is not None:  # most words are absent from most videos
            nn.init.constant_(self.concepts.out.bias, -2.0)
        self.decoder = (
            AttentionDecoder(
                vocab_size,
                self.encoder.output_size,
                **(decoder or {}),
                concept_size=vocab_size if concepts else 0,
            )
            if vocab_size > 0
            else None
        )

    def caption_context(
        self, states: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the caption decoder takes besides the states: the (B, T) mask of valid steps
        and the concept logits (B, vocab) when the model detects concepts."""
        mask = frame_mask(lengths.to(states.device), states.size(1))
        if self.concepts is None:
            return mask, None
        return mask, self.concepts(self.encoder.frame_part(states), lengths)[0]

    def classify(
        self, states: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states -> logits (B, num_classes), attention weights (B, T)."""
        if self.head is None:
            raise ValueError("this video model has no action head (it was trained to caption)")
        return self.head(states, lengths)

    def forward(
        self,
        frames: torch.Tensor | None,
        lengths: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> action logits (B, num_classes), attention weights (B, T)."""
        return self.classify(self.encoder(frames, lengths, features), lengths)
