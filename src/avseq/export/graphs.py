"""The networks as exportable graphs: plain tensors in and out, batch and time dynamic.

Each graph wraps a trained network in eval mode and keeps its arithmetic; only what an exporter
cannot trace is rewritten to an equivalent:

- the log-mel front-end's STFT (complex) is a strided convolution with the windowed DFT
  basis (`ConvMelSpectrogram`), so the exported recognizer takes waveforms;
- the frame CNN runs on every frame of the padded batch and padded frames are zeroed after it
  (the network indexes the valid frames, a data-dependent shape); in eval mode a frame's
  features do not depend on the other frames, so valid frames are unchanged.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from avseq.models.components.recognizer import SpeechRecognizer
from avseq.models.components.video_encoder import VideoModel
from avseq.utils.masks import frame_mask


class ConvMelSpectrogram(nn.Module):
    """torchaudio's `MelSpectrogram` (power 2, center=False, one-sided) as a convolution:
    (B, T) waves -> (B, n_mels, F) mel power, F = (T - n_fft) // hop + 1."""

    def __init__(self, mel: nn.Module) -> None:
        super().__init__()
        spec = mel.spectrogram
        if spec.center or spec.power != 2.0 or spec.normalized or spec.pad:
            raise ValueError("only center=False, power=2, unnormalised spectrograms convert")
        n_fft, window = spec.n_fft, spec.window.float()
        if window.numel() != n_fft:
            window = nn.functional.pad(window, ((n_fft - window.numel()) // 2,) * 2)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        n = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window.double()
        self.register_buffer("basis", basis.float()[:, None, :])  # (2 * freqs, 1, n_fft)
        self.register_buffer("fb", mel.mel_scale.fb.float())  # (freqs, n_mels)
        self.hop = spec.hop_length

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        parts = nn.functional.conv1d(waves[:, None, :], self.basis, stride=self.hop)
        real, imag = parts.chunk(2, dim=1)  # (B, freqs, F) each
        power = real * real + imag * imag
        return torch.matmul(power.transpose(1, 2), self.fb).transpose(1, 2)


class SpeechGraph(nn.Module):
    """(B, T) float waves at the model rate, (B,) sample counts -> (B, F, V) CTC
    log-probabilities, (B,) valid frames. Waves must have at least `n_fft` samples (the
    runtime pads shorter ones)."""

    def __init__(self, model: SpeechRecognizer) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        self.model.features.mel = ConvMelSpectrogram(self.model.features.mel)

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, frames = self.model(waves, lengths)
        return logits.float().log_softmax(-1), frames


def valid_frame_features(model: VideoModel, frames: torch.Tensor, lengths: torch.Tensor):
    """(B, T, 3, H, W) uint8 -> (B, T, D) frame features, zeros on padded frames."""
    encoder = model.encoder
    b, t = frames.shape[:2]
    if encoder.frames.motion:
        frames = torch.cat([frames, torch.cat([frames[:, :1], frames[:, :-1]], 1)], dim=2)
    feats = encoder.frames(frames.flatten(0, 1)).unflatten(0, (b, t))
    return feats * frame_mask(lengths, t)[:, :, None].to(feats.dtype)


def video_states(model: VideoModel, frames: torch.Tensor, lengths: torch.Tensor):
    """(B, T, 3, H, W) uint8 frames -> (B, T, C) encoder states."""
    return model.encoder(None, lengths, valid_frame_features(model, frames, lengths))


class ActionGraph(nn.Module):
    """(B, T, 3, H, W) uint8 frames, (B,) lengths -> (B, K) class probabilities, (B, T)
    attention weights over the frames."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, weights = self.model.classify(video_states(self.model, frames, lengths), lengths)
        return logits.float().softmax(-1), weights.float()


class CaptionEncoderGraph(nn.Module):
    """(B, T, 3, H, W) uint8 frames, (B,) lengths -> what the decoder steps take: states
    (B, T, C), mask (B, T) as float 0/1, attention keys (B, T, A), and the start state
    h (B, H), c (B, H), previous attention (B, T)."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor):
        states = video_states(self.model, frames, lengths)
        mask, concepts = self.model.caption_context(states, lengths)
        (h, c, previous), keys = self.model.decoder.start(states, mask, concepts)
        return states, mask.float(), keys, h, c, previous


class CaptionStepGraph(nn.Module):
    """One decoder step: words (B,) int64, h, c, previous attention, states, mask (float),
    keys -> next-token log-probabilities (B, V), h, c, attention (B, T)."""

    def __init__(self, model: VideoModel) -> None:
        super().__init__()
        self.decoder = copy.deepcopy(model.decoder).eval()

    def forward(self, words, h, c, previous, states, mask, keys):
        logits, (h, c, weights), _ = self.decoder.step(
            words, (h, c, previous), states, mask > 0.5, keys
        )
        return logits.float().log_softmax(-1), h, c, weights


@dataclass(frozen=True)
class GraphSpec:
    """One file to export: its graph, example inputs, and names with their dynamic axes."""

    name: str
    graph: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: dict[str, dict[int, str]]
    outputs: dict[str, dict[int, str]]


def speech_graphs(model: SpeechRecognizer) -> list[GraphSpec]:
    rate = model.sample_rate
    waves = torch.randn(2, rate) * 0.1
    lengths = torch.tensor([rate, rate * 3 // 4])
    return [
        GraphSpec(
            "recognizer",
            SpeechGraph(model),
            (waves, lengths),
            {"waves": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}},
            {"log_probs": {0: "batch", 1: "frames"}, "frames": {0: "batch"}},
        )
    ]


def video_graphs(model: VideoModel, size: int, num_frames: int) -> list[GraphSpec]:
    frames = torch.randint(0, 256, (2, num_frames, 3, size, size), dtype=torch.uint8)
    lengths = torch.tensor([num_frames, max(1, num_frames - 3)])
    clip_axes = {"frames": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}
    specs = []
    if model.head is not None:
        specs.append(
            GraphSpec(
                "action",
                ActionGraph(model),
                (frames, lengths),
                clip_axes,
                {"probs": {0: "batch"}, "weights": {0: "batch", 1: "time"}},
            )
        )
    if model.decoder is not None:
        encoder = CaptionEncoderGraph(model)
        with torch.no_grad():
            states, mask, keys, h, c, previous = encoder(frames, lengths)
        bt = {0: "batch", 1: "time"}
        specs.append(
            GraphSpec(
                "caption_encoder",
                encoder,
                (frames, lengths),
                clip_axes,
                {n: bt for n in ("states", "mask", "keys")}
                | {"h": {0: "batch"}, "c": {0: "batch"}, "previous": bt},
            )
        )
        words = torch.full((2,), model.decoder.bos, dtype=torch.long)
        specs.append(
            GraphSpec(
                "caption_step",
                CaptionStepGraph(model),
                (words, h, c, previous, states, mask, keys),
                {"words": {0: "batch"}, "h": {0: "batch"}, "c": {0: "batch"}, "previous": bt}
                | {n: bt for n in ("states", "mask", "keys")},
                {"log_probs": {0: "batch"}, "h_next": {0: "batch"}, "c_next": {0: "batch"}}
                | {"weights": bt},
            )
        )
    return specs
