"""Masks for padded (B, T, ...) batches with explicit int64 lengths."""

from __future__ import annotations

import torch


def frame_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on valid steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
