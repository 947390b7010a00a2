"""CTC output head and loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CTCHead(nn.Module):
    """(B, T, in_dim) encoder states -> (B, T, vocab_size) logits (index 0 = blank)."""

    def __init__(self, in_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, vocab_size)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.proj(states)


def ctc_loss(
    logits: torch.Tensor,
    lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
) -> torch.Tensor:
    """Mean CTC loss per target token, in float32 (CUDA has no half-precision CTC kernel).

    Args:
        logits: (B, T, V) raw scores, any float dtype.
        lengths: (B,) valid frames.
        targets: (B, L) padded token ids.
        target_lengths: (B,) token counts.
    """
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
    return F.ctc_loss(
        log_probs,
        targets,
        lengths,
        target_lengths,
        blank=blank,
        reduction="mean",
        zero_infinity=True,
    )
