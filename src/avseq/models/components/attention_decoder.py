"""LSTM decoder with attention over encoder states, greedy and beam search: the caption
decoder of the video model and the attention (Listen-Attend-Spell) head of the recognizer.

At each step the previous hidden state queries additive attention over the encoder's states
(Bahdanau et al., 2015; SA-LSTM, Yao et al., 2015), location-aware for speech (Chorowski et
al., 2015); the token embedding and the attended context feed an LSTM cell, and the new state
with the context predicts the next token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from avseq.models.components.attention import AdditiveAttention
from avseq.text.vocab import WordVocab


@dataclass
class Hypothesis:
    """One decoded caption: word ids (no `<bos>`/`<eos>`), total log-probability, the
    length-normalised score beams are ranked by, and attention (words + 1, T) including the
    step that emitted `<eos>`."""

    tokens: list[int]
    logprob: float
    score: float
    attention: torch.Tensor


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al., 2016); 1 when alpha is 0."""
    return ((5.0 + length.float()) / 6.0) ** alpha


DecoderState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(h, c) of the LSTM cell and the previous step's attention weights (B, T)."""


class AttentionDecoder(nn.Module):
    """Generates token ids from (B, T, C) encoder states and a (B, T) mask of valid steps.

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

    def _next_word_logprobs(self, logits: torch.Tensor, last: bool) -> torch.Tensor:
        """Log-probabilities of the words a caption may continue with: never `<pad>` or
        `<bos>`, and only `<eos>` at the last step (every hypothesis ends)."""
        logp = logits.float().log_softmax(-1)
        if last:
            eos = logp[:, self.eos].clone()
            logp.fill_(float("-inf"))
            logp[:, self.eos] = eos
        else:
            logp[:, self.pad] = float("-inf")
            logp[:, self.bos] = float("-inf")
        return logp

    @torch.no_grad()
    def greedy(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        max_len: int = 20,
        concepts: torch.Tensor | None = None,
    ) -> list[Hypothesis]:
        """The most likely word at each step, until `<eos>` (forced after `max_len` words)."""
        b = states.size(0)
        state, keys = self.start(states, mask, concepts)
        words = states.new_full((b,), self.bos, dtype=torch.long)
        done = torch.zeros(b, dtype=torch.bool, device=states.device)
        logprob = torch.zeros(b, device=states.device)
        out, attention = [], []
        for i in range(max_len + 1):
            logits, state, weights = self.step(words, state, states, mask, keys)
            best, words = self._next_word_logprobs(logits, i == max_len).max(-1)
            logprob += torch.where(done, torch.zeros_like(best), best)
            words = torch.where(done, torch.full_like(words, self.pad), words)
            out.append(words)
            attention.append(weights.float())
            done |= words == self.eos
            if bool(done.all()):
                break
        ids = torch.stack(out, 1).tolist()
        att = torch.stack(attention, 1).cpu()
        hyps = []
        for i in range(b):
            tokens = _until_eos(ids[i], self.eos, self.pad)
            steps = min(len(tokens) + 1, att.size(1))
            lp = float(logprob[i])
            hyps.append(Hypothesis(tokens, lp, lp, att[i, :steps]))
        return hyps

    @torch.no_grad()
    def beam_search(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        beam: int = 5,
        max_len: int = 20,
        alpha: float = 0.0,
        concepts: torch.Tensor | None = None,
    ) -> list[list[Hypothesis]]:
        """Batched beam search; per video, `beam` hypotheses best first (by log-probability
        over `length_penalty(alpha)`). A finished beam keeps its place with its score frozen."""
        b, t, _ = states.shape
        k = beam
        states = states.repeat_interleave(k, 0)
        mask = mask.repeat_interleave(k, 0)
        if concepts is not None:
            concepts = concepts.repeat_interleave(k, 0)
        state, keys = self.start(states, mask, concepts)
        words = states.new_full((b * k,), self.bos, dtype=torch.long)
        scores = torch.full((b, k), float("-inf"), device=states.device)
        scores[:, 0] = 0.0  # all beams start equal: keep one so the first step fans out
        finished = torch.zeros(b * k, dtype=torch.bool, device=states.device)
        history = states.new_zeros(b * k, 0, dtype=torch.long)
        attention = states.new_zeros(b * k, 0, t, dtype=torch.float)
        offset = (torch.arange(b, device=states.device) * k)[:, None]
        for i in range(max_len + 1):
            logits, state, weights = self.step(words, state, states, mask, keys)
            logp = self._next_word_logprobs(logits, i == max_len)
            logp[finished] = float("-inf")
            logp[finished, self.pad] = 0.0  # a finished beam only extends by padding, free
            cand = (scores.view(-1, 1) + logp).view(b, -1)
            scores, index = cand.topk(k, dim=1)
            source = (offset + index // self.vocab_size).view(-1)
            words = (index % self.vocab_size).view(-1)
            state = tuple(part[source] for part in state)
            history = torch.cat([history[source], words[:, None]], 1)
            attention = torch.cat([attention[source], weights.float()[source][:, None]], 1)
            finished = finished[source] | (words == self.eos)
            if bool(finished.all()):
                break
        ids = history.tolist()
        lengths = torch.tensor(
            [len(_until_eos(row, self.eos, self.pad)) + 1 for row in ids], device=scores.device
        ).view(b, k)
        ranked = scores / length_penalty(lengths, alpha)
        order = ranked.argsort(dim=1, descending=True)
        attention = attention.cpu()
        out = []
        for i in range(b):
            hyps = []
            for j in order[i].tolist():
                row = i * k + j
                tokens = _until_eos(ids[row], self.eos, self.pad)
                steps = min(len(tokens) + 1, attention.size(1))
                hyps.append(
                    Hypothesis(
                        tokens,
                        float(scores[i, j]),
                        float(ranked[i, j]),
                        attention[row, :steps],
                    )
                )
            out.append(hyps)
        return out


def _until_eos(ids: list[int], eos: int, pad: int) -> list[int]:
    out = []
    for i in ids:
        if i in (eos, pad):
            break
        out.append(i)
    return out
