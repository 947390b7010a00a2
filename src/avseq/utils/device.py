"""Choosing the device a predictor runs on."""

from __future__ import annotations

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
