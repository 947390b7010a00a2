"""CTC decoding: best-path (greedy)."""

from __future__ import annotations

import torch


def ctc_greedy(logits: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks.

    Args:
        logits: (B, T, V) scores (log-probabilities or logits).
        lengths: (B,) valid frames per sequence.
        blank: the blank index.

    Returns:
        One list of token ids per sequence.
    """
    best = logits.argmax(dim=-1).cpu()  # (B, T)
    out = []
    for seq, n in zip(best, lengths.cpu().tolist(), strict=True):
        ids = torch.unique_consecutive(seq[:n])
        out.append([i for i in ids.tolist() if i != blank])
    return out


def ctc_greedy_texts(logits: torch.Tensor, lengths: torch.Tensor, tokenizer) -> list[str]:
    """Greedy decoding straight to text with `tokenizer` (blank = tokenizer.blank)."""
    return [tokenizer.decode(ids) for ids in ctc_greedy(logits, lengths, tokenizer.blank)]
