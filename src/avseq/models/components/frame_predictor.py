"""Video frame prediction: a convolutional frame encoder, a unidirectional recurrent core over
per-frame latent vectors (`RNNEncoder`), and a convolutional decoder, rolled out
autoregressively for the future frames.

After the deterministic model of SVG (Denton & Fergus, "Stochastic Video Generation with a
Learned Prior", ICML 2018): a vector LSTM between a DCGAN-style encoder and decoder, with skip
connections from the last input frame so the recurrence only has to carry what moves. Here the
decoder predicts the change to that frame, so an untrained model is the copy-last-frame
baseline and training can only start from there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from avseq.models.components.rnn_encoder import RNNEncoder


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


def _levels(image_size: int, channels: Sequence[int]) -> int:
    """The side of the deepest feature map (each level halves it); checks the sizes."""
    depth = 2 ** len(channels)
    if not channels or image_size % depth or image_size < depth:
        raise ValueError(
            f"image_size {image_size} must be a multiple of 2**len(channels) = {depth} "
            f"(channels={list(channels)})"
        )
    return image_size // depth


class ConvFrameEncoder(nn.Module):
    """(B, in_channels, S, S) -> latent (B, latent_size) and each level's feature map
    [(B, channels[i], S / 2**(i+1), ...)], the decoder's skip connections."""

    def __init__(
        self, image_size: int, in_channels: int, channels: Sequence[int], latent_size: int
    ) -> None:
        super().__init__()
        side = _levels(image_size, channels)
        self.levels = nn.ModuleList()
        c = in_channels
        for out in channels:  # each level: a stride-2 conv, then one at that resolution
            self.levels.append(nn.Sequential(_conv(c, out, 2), _conv(out, out)))
            c = out
        self.to_latent = nn.Linear(c * side * side, latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for level in self.levels:
            x = level(x)
            skips.append(x)
        return self.to_latent(x.flatten(1)), skips


class ConvFrameDecoder(nn.Module):
    """A recurrent state (B, state_size) and the encoder's maps of the last input frame ->
    (B, 3, S, S), the change from that frame to the next."""

    def __init__(self, image_size: int, state_size: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.side = _levels(image_size, channels)
        self.channels = list(channels)
        self.from_state = nn.Sequential(
            nn.Linear(state_size, channels[-1] * self.side**2), nn.LeakyReLU(0.2, inplace=True)
        )
        self.fuse = nn.ModuleList(_conv(2 * c, c) for c in channels)  # state + skip, per level
        self.up = nn.ModuleList(  # level i -> level i - 1 (twice the side)
            nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"), _conv(c, c_next))
            for c_next, c in itertools.pairwise(channels)
        )
        # the last level to full resolution as sub-pixels: cheaper than a conv at full size
        self.out = nn.Conv2d(channels[0], 3 * 4, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2)
        nn.init.zeros_(self.out.weight)  # no change at first: the copy-last-frame baseline
        nn.init.zeros_(self.out.bias)

    def forward(self, state: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = self.from_state(state).view(-1, self.channels[-1], self.side, self.side)
        for i in reversed(range(len(self.channels))):
            x = self.fuse[i](torch.cat([x, skips[i]], dim=1))  # (B, channels[i], s, s)
            if i > 0:
                x = self.up[i - 1](x)
        return self.shuffle(self.out(x))  # (B, 3, S, S)


class FramePredictor(nn.Module):
    """Observed frames (B, n, 3, S, S) in [0, 1] -> the next `future` frames.

    Each frame (with its difference to the previous one when `motion`) is encoded to a latent
    vector; the recurrent core runs over the latents; from the state after frame t and the
    encoder's maps of frame t, the decoder predicts the change to frame t + 1. Future frames
    are predicted one at a time, each prediction encoded and fed back (autoregressive
    rollout), the core's state carried from step to step.

    Args:
        image_size: frame side S (a multiple of 2 ** len(channels)).
        encoder: builds the recurrent core given `input_size` (a `_partial_` RNNEncoder); it
            must be unidirectional (a backward direction would see the frames it predicts).
        channels: conv channels per level of the frame encoder (and of the decoder).
        latent_size: the per-frame latent vector the core reads.
        motion: also feed the encoder each frame's difference to the previous one.
    """

    def __init__(
        self,
        image_size: int,
        encoder: Callable[..., RNNEncoder],
        channels: Sequence[int] = (16, 32, 64, 128),
        latent_size: int = 256,
        motion: bool = True,
    ) -> None:
        super().__init__()
        self.image_size, self.motion = image_size, motion
        self.frame_encoder = ConvFrameEncoder(image_size, 6 if motion else 3, channels, latent_size)
        self.core = encoder(input_size=latent_size)
        if self.core.rnn.bidirectional:
            raise ValueError(
                "the frame predictor's core must be unidirectional "
                "(model.net.encoder.bidirectional=false): a backward direction sees the future"
            )
        self.decoder = ConvFrameDecoder(image_size, self.core.output_size, channels)

    def encode(
        self, frames: torch.Tensor, previous: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, 3, S, S) frames and the frames before them -> latents (N, D) and skips."""
        x = torch.cat([frames, frames - previous], dim=1) if self.motion else frames
        return self.frame_encoder(x)

    def run_core(self, latents: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """(B, t, D) latents and the state after the steps before them (None: none) ->
        (B, t, H) states and the state after the last. The core's own RNN with its state
        carried (`RNNEncoder.forward` starts each sequence from zero); over whole sequences the
        same states as `RNNEncoder.forward`, with the same parameters and output dropout."""
        out, state = self.core.rnn(latents, state)
        return self.core.dropout(out), state

    def forward(
        self,
        frames: torch.Tensor,
        future: int,
        targets: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
        predict_context: bool = False,
    ) -> torch.Tensor:
        """Predicts the `future` frames after `frames` (B, n, 3, S, S).

        Args:
            targets: (B, future, 3, S, S) the true future frames, for `teacher_forcing`.
            teacher_forcing: the chance, per sequence and step, that the true frame is fed
                back instead of the prediction (training only; 0 at test time).
            predict_context: also return the one-step predictions of frames 1..n-1, each
                from the true frames before it (more training signal for the same encoder
                passes).

        Returns:
            (B, future, 3, S, S) in [0, 1], or (B, n - 1 + future, 3, S, S) with
            `predict_context`.
        """
        b, n = frames.shape[:2]
        if n < 2 or future < 1:
            raise ValueError(f"need at least 2 observed frames and 1 to predict, got {n}, {future}")
        shape = frames.shape[2:]
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        latents, skips = self.encode(frames.flatten(0, 1), previous.flatten(0, 1))
        latents = latents.view(b, n, -1)  # (B, n, D)
        states, state = self.run_core(latents)  # (B, n, H)
        first = 0 if predict_context else n - 1  # the steps decoded from the observed frames
        steps = n - first
        skips = [s.view(b, n, *s.shape[1:])[:, first:].flatten(0, 1) for s in skips]
        base = frames[:, first:].flatten(0, 1)
        change = self.decoder(states[:, first:].flatten(0, 1), skips)
        out = [(base + change).clamp(0, 1).view(b, steps, *shape)]
        fed, last = out[0][:, -1], frames[:, -1]
        for h in range(1, future):
            if targets is not None and teacher_forcing > 0:
                truth = torch.rand(b, 1, 1, 1, device=fed.device) < teacher_forcing
                fed = torch.where(truth, targets[:, h - 1], fed)
            latent, skip = self.encode(fed, last)
            step, state = self.run_core(latent[:, None], state)
            frame = (fed + self.decoder(step[:, 0], skip)).clamp(0, 1)
            out.append(frame[:, None])
            fed, last = frame, fed
        return torch.cat(out, dim=1)
