"""LSTM decoder with attention over encoder states: the caption decoder of the video model and
the attention (Listen-Attend-Spell) head of the recognizer. Searches over its steps (greedy,
beam) are in `avseq.decoding.beam`.

At each step the previous hidden state queries additive attention over the encoder's states
(Bahdanau et al., 2015; SA-LSTM, Yao et al., 2015), location-aware for speech (Chorowski et
al., 2015); the token embedding and the attended context feed an LSTM cell, and the new state
with the context predicts the next token.
"""

from __future__ import annotations

import torch
from torch import nn

from avseq.models.components.attention import AdditiveAttention
from avseq.text.vocab import WordVocab

DecoderState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(h, c) of the LSTM cell and the previous step's attention weights (B, T)."""


class AttentionDecoder(nn.Module):
    """Next-token logits from (B, T, C) encoder states and a (B, T) mask of valid steps: one
    token at a time (`start`, then `step`) or teacher-forced (`forward`).

    Args:
        vocab_size: tokens including the special ones (by default ids as in `WordVocab`).
        state_size: size of the encoder states attended to.
        embed_size: word embedding size.
        hidden_size: LSTM cell size.
        attn_size: hidden size of the additive attention.
        dropout: on embeddings and before the output layer.
        concept_size: size of an optional per-video vector (the concept detector's word
            logits; their probabilities join the mean state in setting the initial LSTM
            state).
        location_filters, location_kernel: location-aware attention (see
            `AdditiveAttention`); 0 filters for plain additive attention.
        pad, bos, eos: the special token ids (never predicted: pad, bos).
    """

    def __init__(
        self,
        vocab_size: int,
        state_size: int,
        embed_size: int = 128,
        hidden_size: int = 256,
        attn_size: int = 128,
        dropout: float = 0.2,
        concept_size: int = 0,
        location_filters: int = 0,
        location_kernel: int = 31,
        pad: int = WordVocab.pad,
        bos: int = WordVocab.bos,
        eos: int = WordVocab.eos,
    ) -> None:
        super().__init__()
        if len({pad, bos, eos}) != 3 or not all(0 <= i < vocab_size for i in (pad, bos, eos)):
            raise ValueError(f"pad, bos, eos must be distinct ids below {vocab_size}")
        self.pad, self.bos, self.eos = pad, bos, eos
        self.vocab_size = vocab_size
        self.concept_size = concept_size
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=self.pad)
        self.init_state = nn.Linear(state_size + concept_size, 2 * hidden_size)
        self.attention = AdditiveAttention(
            state_size, attn_size, hidden_size, location_filters, location_kernel
        )
        self.cell = nn.LSTMCell(embed_size + state_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size + state_size, vocab_size)

    def start(
        self, states: torch.Tensor, mask: torch.Tensor, concepts: torch.Tensor | None = None
    ) -> tuple[DecoderState, torch.Tensor]:
        """Initial state: (h, c) from the mean of the valid states (and the concept vector),
        uniform attention over the valid steps; and the projected attention keys."""
        m = mask.to(states.dtype).unsqueeze(-1)
        mean = (states * m).sum(1) / m.sum(1).clamp_min(1)
        if self.concept_size:
            if concepts is None:
                raise ValueError("this decoder needs the concept vector")
            mean = torch.cat([mean, concepts.sigmoid().to(mean.dtype)], dim=-1)
        h, c = torch.tanh(self.init_state(mean)).chunk(2, dim=-1)
        uniform = mask.float() / mask.float().sum(1, keepdim=True).clamp_min(1)
        return (h.contiguous(), c.contiguous(), uniform), self.attention.project_keys(states)

    def step(
        self,
        words: torch.Tensor,
        state: DecoderState,
        states: torch.Tensor,
        mask: torch.Tensor,
        keys: torch.Tensor,
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """One token (B,) in -> next-token logits (B, V), new state, attention (B, T)."""
        h, c, previous = state
        context, weights = self.attention(states, mask, h, keys, previous)
        x = torch.cat([self.dropout(self.embed(words)), context], dim=-1)
        h, c = self.cell(x, (h, c))
        logits = self.out(self.dropout(torch.cat([h, context], dim=-1)))
        return logits, (h, c, weights.float()), weights

    def forward(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        tokens: torch.Tensor,
        sample_prob: float = 0.0,
        concepts: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: tokens (B, L) = `<bos>` w1 ... wn `<eos>` `<pad>`... ->
        logits (B, L-1, V) predicting tokens[:, 1:], attention (B, L-1, T).

        `sample_prob` > 0 is scheduled sampling (Bengio et al., 2015): each step's input word
        is, with that probability, the model's own previous prediction instead of the truth.
        """
        state, keys = self.start(states, mask, concepts)
        logits, attention = [], []
        words = tokens[:, 0]
        for t in range(tokens.size(1) - 1):
            step_logits, state, weights = self.step(words, state, states, mask, keys)
            logits.append(step_logits)
            attention.append(weights)
            words = tokens[:, t + 1]
            if sample_prob > 0 and t + 2 < tokens.size(1):
                own = step_logits.argmax(-1)
                use = torch.rand(words.shape, device=words.device) < sample_prob
                words = torch.where(use & (words != self.pad), own, words)
        return torch.stack(logits, 1), torch.stack(attention, 1)
