"""Scorers for `avseq.decoding.beam`: an attention decoder's next-token log-probabilities, and a
recurrent language model's for shallow fusion (CTC prefix scores are in
`avseq.decoding.attention`). Each scores the N running hypotheses of a search and reorders the
state behind them as the search keeps some."""

from __future__ import annotations

from typing import Protocol

import torch


class StepDecoder(Protocol):
    """What the searches need of a decoder (`AttentionDecoder`): its special ids and steps."""

    pad: int
    bos: int
    eos: int
    vocab_size: int

    def start(
        self, states: torch.Tensor, mask: torch.Tensor, concepts: torch.Tensor | None = None
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]: ...

    def step(
        self,
        words: torch.Tensor,
        state: tuple[torch.Tensor, ...],
        states: torch.Tensor,
        mask: torch.Tensor,
        keys: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]: ...


class DecoderScorer:
    """A decoder's next-token log-probabilities; keeps the last step's attention (N, T).

    Args:
        decoder: the decoder stepped.
        states: (N, T, C) encoder states, one row per hypothesis; mask: (N, T) valid steps.
        concepts: (N, concept_size) concept logits for a decoder that starts from them.
    """

    def __init__(
        self,
        decoder: StepDecoder,
        states: torch.Tensor,
        mask: torch.Tensor,
        concepts: torch.Tensor | None = None,
    ) -> None:
        self.decoder, self.states, self.mask = decoder, states, mask
        self.state, self.keys = decoder.start(states, mask, concepts)
        self.weights = states.new_zeros(0)

    def __call__(self, words: torch.Tensor, partial: torch.Tensor | None) -> torch.Tensor:
        """(N,) last tokens -> (N, V) log-probabilities of the next (`partial` unused)."""
        logits, self.state, self.weights = self.decoder.step(
            words, self.state, self.states, self.mask, self.keys
        )
        return logits.float().log_softmax(-1)

    def reorder(self, source: torch.Tensor, words: torch.Tensor) -> None:
        self.state = tuple(part[source] for part in self.state)


class LMScorer:
    """Shallow fusion: a recurrent LM's next-token log-probabilities.

    Args:
        lm: an `RNNLanguageModel` (`start(n, device)`, `step(tokens, state)`) over the
            search's token ids.
        n: running hypotheses; device: where they are.
    """

    def __init__(self, lm, n: int, device: torch.device) -> None:
        self.lm, self.state = lm, lm.start(n, device)

    def __call__(self, words: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
        """(N,) last tokens -> (N, V) log-probabilities of the next (`partial` unused)."""
        logp, self.next = self.lm.step(words, self.state)
        return logp

    def reorder(self, source: torch.Tensor, words: torch.Tensor) -> None:
        self.state = tuple(part[:, source] for part in self.next)  # (layers, N, H)
