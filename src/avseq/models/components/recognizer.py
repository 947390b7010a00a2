"""A DeepSpeech2-style recognizer: front-end (log-mel) -> conv subsampling (4x) -> BiRNN -> CTC
head, and optionally a Listen-Attend-Spell attention decoder on the same encoder (joint
CTC/attention).

`SpeechRecognizer` holds built parts; `build_recognizer` builds them from partial constructors
(the `_partial_: true` configs of configs/model/speech_ctc.yaml), giving each part the sizes it
takes from the others, so swapping a part is a config change.

Amodei et al., 2016, "Deep Speech 2"; Graves et al., 2006, "Connectionist Temporal
Classification"; Chan et al., 2016, "Listen, Attend and Spell"; Kim et al., 2017, "Joint
CTC-Attention Based End-to-End Speech Recognition Using Multi-Task Learning".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from avseq.utils.masks import frame_mask

SUBSAMPLING = 4  # frames per output frame: the subsampler's two stride-2 convolutions


class AcousticEncoder(nn.Module):
    """The speech encoding path every speech network shares: waves -> features (on the batch's
    device) -> SpecAugment (training only) -> subsampling -> recurrent states. Its attribute
    names are the state_dict's prefixes (features.*, subsampler.*, encoder.*), so encoder
    weights move between the networks built on it.

    Args:
        frontend: (B, T) waves + (B,) sample counts -> (B, n_mels, F) features + (B,) frame
            counts; has `sample_rate`, `hop_length` and `n_mels` (e.g. `LogMel`).
        augment: (B, n_mels, F) -> the same with masked bands and frames, in training only
            (e.g. `SpecAugment`); None for no augmentation.
        subsampler: features + frame counts -> (B, F / 4, out_dim) + frame counts (e.g.
            `Conv2dSubsampler`).
        encoder: (B, F', out_dim) + lengths -> (B, F', output_size) states (e.g. `RNNEncoder`).
    """

    def __init__(
        self,
        frontend: nn.Module,
        augment: nn.Module | None,
        subsampler: nn.Module,
        encoder: nn.Module,
    ) -> None:
        super().__init__()
        self.sample_rate = int(frontend.sample_rate)
        self.features = frontend
        self.spec_augment = augment
        self.subsampler = subsampler
        self.encoder = encoder

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (after subsampling)."""
        return SUBSAMPLING * self.features.hop_length / self.sample_rate

    def encode(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) sample counts -> (B, F, output_size) encoder states, (B,) frame
        counts."""
        feats, frames = self.features(waves, lengths)  # (B, n_mels, F)
        if self.training and self.spec_augment is not None:
            feats = self.spec_augment(feats)
        x, frames = self.subsampler(feats, frames)  # (B, F/4, out_dim)
        return self.encoder(x, frames), frames  # (B, F/4, output_size)


class SpeechRecognizer(AcousticEncoder):
    """Waveforms in, per-frame CTC logits out.

    Args:
        frontend, augment, subsampler, encoder: the encoding path (see `AcousticEncoder`).
        head: states -> (B, F', vocab_size) CTC logits, index 0 = blank (e.g. `CTCHead`).
        decoder: an `AttentionDecoder` over the same states, or None for CTC only. Its tokens
            are the CTC ids (blank = padding) plus `bos` and `eos` = vocab_size,
            vocab_size + 1.
    """

    def __init__(
        self,
        frontend: nn.Module,
        augment: nn.Module | None,
        subsampler: nn.Module,
        encoder: nn.Module,
        head: nn.Module,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__(frontend, augment, subsampler, encoder)
        self.head = head
        self.decoder = decoder

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


def build_recognizer(
    vocab_size: int,
    frontend: Callable[..., nn.Module],
    augment: Callable[..., nn.Module] | None,
    subsampler: Callable[..., nn.Module],
    encoder: Callable[..., nn.Module],
    head: Callable[..., nn.Module],
    decoder: Callable[..., nn.Module] | None = None,
) -> SpeechRecognizer:
    """Builds a recognizer from partial constructors of its parts (see `SpeechRecognizer`),
    in a fixed order (the same seed gives the same weights), each given the sizes it takes
    from the others: the subsampler `n_feats` (the front-end's `n_mels`), the encoder
    `input_size` (the subsampler's `out_dim`), the CTC head `in_dim` and `vocab_size`, the
    decoder `vocab_size + 2` tokens over the encoder's states.

    Args:
        vocab_size: output classes including the CTC blank (the tokenizer's size).
    """
    features = frontend()
    augmentation = augment() if augment is not None else None
    sub = subsampler(n_feats=features.n_mels)
    rnn = encoder(input_size=sub.out_dim)
    ctc = head(in_dim=rnn.output_size, vocab_size=vocab_size)
    att = None
    if decoder is not None:
        att = decoder(
            vocab_size=vocab_size + 2,
            state_size=rnn.output_size,
            pad=0,
            bos=vocab_size,
            eos=vocab_size + 1,
        )
    return SpeechRecognizer(features, augmentation, sub, rnn, ctc, att)
