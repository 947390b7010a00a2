"""The video model: a frame CNN on every frame, the shared recurrent encoder over time, then an
action head and/or a caption decoder.

`VideoModel` holds built parts; `build_video_model` builds them from partial constructors (the
`_partial_: true` configs of configs/model/video_action.yaml), giving each part the sizes it
takes from the others, so swapping a part is a config change.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.utils.masks import frame_mask


class VideoEncoder(nn.Module):
    """(B, T, 3, H, W) uint8 frames + lengths -> (B, T, output_size) states.

    The frame CNN runs only on real frames (padding costs nothing and cannot leak into
    BatchNorm statistics); precomputed frame features (B, T, D) can be given instead.

    Args:
        frames: a frame encoder, (N, C, H, W) uint8 -> (N, D) with `out_dim` = D and `motion`
            (e.g. `FrameEncoder`).
        rnn: (B, T, D) + lengths -> (B, T, rnn.output_size) states (e.g. `RNNEncoder`).
        frame_skip: each state also carries its frame's features (B, T, rnn + D): what a
            frame looks like reaches the heads without passing through the recurrence.
    """

    def __init__(self, frames: nn.Module, rnn: nn.Module, frame_skip: bool = False) -> None:
        super().__init__()
        self.frames = frames
        self.rnn = rnn
        self.frame_skip = frame_skip
        self.output_size = rnn.output_size + (frames.out_dim if frame_skip else 0)

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
        encoder: the `VideoEncoder`.
        head: action classifier over the states, (B, T, C) + lengths -> (B, num_classes)
            logits and (B, T) weights (e.g. `AttentionPoolingClassifier`); None: no actions.
        concepts: with a decoder, a detector of which words a video's captions use (a
            multi-label head on attention-pooled frame features: semantic concepts, as in Gan
            et al., 2017, "Semantic Compositional Networks"); their probabilities join the
            decoder's initial state. Needs `frame_skip` (the states then carry the frame
            features): what a frame shows (colour, shape) is learned by the frame CNN without
            pulling the recurrent encoder away from the motion the action head needs.
        decoder: the caption `AttentionDecoder` over the states; None: no captions.
    """

    def __init__(
        self,
        encoder: VideoEncoder,
        head: nn.Module | None,
        concepts: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if head is None and decoder is None:
            raise ValueError("a video model needs action classes, a caption vocabulary or both")
        if concepts is not None and not encoder.frame_skip:
            raise ValueError(
                "the concept detector reads the frame features: set model.net.frame_skip=true "
                "(or model.concept_weight=0)"
            )
        # attribute names are the state_dict's prefixes (encoder.*, head.*, ...)
        self.encoder = encoder
        self.head = head
        self.concepts = concepts
        self.decoder = decoder

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


def build_video_model(
    frame_encoder: Callable[..., nn.Module],
    encoder: Callable[..., nn.Module],
    head: Callable[..., nn.Module],
    decoder: Callable[..., nn.Module] = AttentionDecoder,
    num_classes: int = 0,
    vocab_size: int = 0,
    image_size: int | None = None,
    frame_skip: bool = False,
    concepts: bool = False,
) -> VideoModel:
    """Builds a video model from partial constructors of its parts (see `VideoModel`), in a
    fixed order (the same seed gives the same weights), each given the sizes it takes from the
    others: the frame encoder `image_size`, the recurrent encoder `input_size` (the frame
    features' `out_dim`), the head `input_size` and `num_classes`, the decoder `vocab_size`,
    `state_size` and `concept_size`.

    Args:
        num_classes: action classes (0: no action head).
        vocab_size: caption words including the special tokens (0: no caption decoder).
        image_size: frame side in pixels (the data's), given to the frame encoder.
        frame_skip: the states also carry the frame features (see `VideoEncoder`).
        concepts: with a decoder, also build a concept detector (see `VideoModel`): a second
            `head` over the frame features with one output per word.
    """
    if num_classes <= 0 and vocab_size <= 0:
        raise ValueError("a video model needs action classes, a caption vocabulary or both")
    frames = frame_encoder() if image_size is None else frame_encoder(image_size=image_size)
    rnn = encoder(input_size=frames.out_dim)
    video = VideoEncoder(frames, rnn, frame_skip)
    action = (
        head(input_size=video.output_size, num_classes=num_classes) if num_classes > 0 else None
    )
    concepts = concepts and vocab_size > 0
    detector = head(input_size=frames.out_dim, num_classes=vocab_size) if concepts else None
    if detector is not None:  # most words are absent from most videos
        nn.init.constant_(detector.out.bias, -2.0)
    captions = None
    if vocab_size > 0:
        captions = decoder(
            vocab_size=vocab_size,
            state_size=video.output_size,
            concept_size=vocab_size if concepts else 0,
        )
    return VideoModel(video, action, detector, captions)
