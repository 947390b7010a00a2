"""A keyword (command word) classifier on the recognizer's encoder: front-end (log-mel) ->
SpecAugment (training) -> conv subsampling (4x) -> BiRNN -> attention pooling over the states
-> class logits.

`KeywordClassifier` is an `AcousticEncoder` like the recognizer (the same parts under the same
names), so its encoder's weights and a recognizer's are interchangeable;
`build_keyword_classifier` builds them from partial constructors (the `_partial_: true`
configs of configs/model/keyword.yaml).

Attention pooling over recurrent states for keyword spotting as in de Andrade et al., 2018,
"A neural attention model for speech command recognition"; the task and corpus: Warden, 2018,
"Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from avseq.models.components.recognizer import AcousticEncoder


class KeywordClassifier(AcousticEncoder):
    """Waveforms in, class logits and the attention over the encoder's frames out.

    Args:
        frontend, augment, subsampler, encoder: the recognizer's encoding path (see
            `AcousticEncoder`).
        head: states + lengths -> (B, num_classes) logits, (B, F') weights (e.g.
            `AttentionPoolingClassifier`).
    """

    def __init__(
        self,
        frontend: nn.Module,
        augment: nn.Module | None,
        subsampler: nn.Module,
        encoder: nn.Module,
        head: nn.Module,
    ) -> None:
        super().__init__(frontend, augment, subsampler, encoder)
        self.head = head

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) waves, (B,) sample counts -> (B, num_classes) logits, (B, F) attention
        weights (zero past each utterance's frames)."""
        states, frames = self.encode(waves, lengths)
        return self.head(states, frames)


def build_keyword_classifier(
    num_classes: int,
    frontend: Callable[..., nn.Module],
    augment: Callable[..., nn.Module] | None,
    subsampler: Callable[..., nn.Module],
    encoder: Callable[..., nn.Module],
    head: Callable[..., nn.Module],
) -> KeywordClassifier:
    """Builds a keyword classifier from partial constructors of its parts (see
    `KeywordClassifier`), in a fixed order (the same seed gives the same weights), each given
    the sizes it takes from the others: the subsampler `n_feats` (the front-end's `n_mels`),
    the encoder `input_size` (the subsampler's `out_dim`), the head `input_size` (the
    encoder's `output_size`) and `num_classes`.

    Args:
        num_classes: the keyword classes (at least 2).
    """
    if num_classes < 2:
        raise ValueError(f"a keyword classifier needs at least 2 classes, got {num_classes}")
    features = frontend()
    augmentation = augment() if augment is not None else None
    sub = subsampler(n_feats=features.n_mels)
    rnn = encoder(input_size=sub.out_dim)
    pool = head(input_size=rnn.output_size, num_classes=num_classes)
    return KeywordClassifier(features, augmentation, sub, rnn, pool)
