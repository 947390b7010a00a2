"""Choosing the device a predictor runs on, moving batches to it, and waiting for it."""

from __future__ import annotations

from typing import Any

import torch

from avseq.errors import AvseqError


def pick_device(device: str = "auto") -> torch.device:
    """ "auto" (a CUDA GPU when visible, else the CPU), "cpu", "cuda", "cuda:1", ..."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AvseqError(f"--device {device}: no CUDA GPU is visible; use --device cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise AvseqError(
            f"--device {device!r}: not a device; use auto, cpu, cuda or cuda:N"
        ) from None


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A batch dict with its tensors on `device` (other values as they are)."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def sync(device: torch.device) -> None:
    """Waits for the device's queued work (CUDA runs asynchronously), so a timer reads it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
