"""Additive (Bahdanau) attention over padded sequences, optionally location-aware, and
attention pooling for classifiers.

Bahdanau et al., 2015, "Neural Machine Translation by Jointly Learning to Align and Translate";
location-aware attention: Chorowski et al., 2015, "Attention-Based Models for Speech
Recognition"; attention pooling as in Yang et al., 2016, "Hierarchical Attention Networks".
"""

from __future__ import annotations

import torch
from torch import nn

from avseq.utils.masks import frame_mask


class AdditiveAttention(nn.Module):
    """score_t = v . tanh(W k_t + U q [+ L (F * a_prev)_t]); softmax over the valid steps only.

    Args:
        key_size: size of the attended states.
        attn_size: hidden size of the scoring network.
        query_size: size of the query (a decoder state); 0 for a learned, fixed query
            (attention pooling).
        location_filters: > 0 makes the attention location-aware: that many 1-D convolution
            filters over the previous step's weights join the score, so the alignment moves
            forward monotonically instead of jumping between similar frames (speech).
        location_kernel: width of those filters (odd).
    """

    def __init__(
        self,
        key_size: int,
        attn_size: int = 128,
        query_size: int = 0,
        location_filters: int = 0,
        location_kernel: int = 31,
    ) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_size, attn_size)
        self.query_proj = nn.Linear(query_size, attn_size, bias=False) if query_size else None
        self.score = nn.Linear(attn_size, 1, bias=False)
        self.location = None
        if location_filters:
            self.location = nn.Conv1d(
                1, location_filters, location_kernel, padding=location_kernel // 2, bias=False
            )
            self.location_proj = nn.Linear(location_filters, attn_size, bias=False)

    @property
    def location_aware(self) -> bool:
        return self.location is not None

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, T, key_size) -> (B, T, attn_size); compute once per sequence when decoding."""
        return self.key_proj(keys)

    def forward(
        self,
        keys: torch.Tensor,
        mask: torch.Tensor,
        query: torch.Tensor | None = None,
        projected_keys: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """keys (B, T, K), mask (B, T) True on valid steps, query (B, Q), previous (B, T)
        weights (location-aware only) -> context (B, K), weights (B, T) (zero on padding,
        summing to 1)."""
        e = projected_keys if projected_keys is not None else self.project_keys(keys)
        if self.query_proj is not None:
            if query is None:
                raise ValueError("this attention needs a query")
            e = e + self.query_proj(query)[:, None, :]
        if self.location is not None:
            if previous is None:
                raise ValueError("location-aware attention needs the previous weights")
            loc = self.location(previous.to(e.dtype)[:, None, :])  # (B, filters, T)
            e = e + self.location_proj(loc.transpose(1, 2))
        scores = self.score(torch.tanh(e)).squeeze(-1).float()
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1).to(keys.dtype)
        context = torch.bmm(weights[:, None, :], keys).squeeze(1)
        return context, weights


class AttentionPoolingClassifier(nn.Module):
    """(B, T, C) states + lengths -> (B, num_classes) logits and (B, T) attention weights."""

    def __init__(
        self, input_size: int, num_classes: int, attn_size: int = 128, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.attention = AdditiveAttention(input_size, attn_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(input_size, num_classes)

    def forward(
        self, states: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = frame_mask(lengths.to(states.device), states.size(1))
        pooled, weights = self.attention(states, mask)
        return self.out(self.dropout(pooled)), weights
