"""Decoded frames to model-ready clips: temporal views, and padded batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.media.video import sample_indices
from avseq.text.vocab import WordVocab


def clip_views(
    frames: np.ndarray,
    num_frames: int,
    views: int,
    jitter: bool,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (views, t, 3, H, W) uint8, t = min(T, num_frames).

    Each view takes `num_frames` frames spread evenly over the whole clip; views differ in
    where inside each segment they sample (multi-clip testing), `jitter` draws it at random
    (from `rng`, default numpy's global generator).
    """
    out = []
    for v in range(views):
        offset = None if jitter else (v + 0.5) / views
        out.append(frames[sample_indices(len(frames), num_frames, offset, rng)])
    return torch.from_numpy(np.stack(out)).permute(0, 1, 4, 2, 3).contiguous()


def collate_video(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pads clips to the longest in time; None items (skipped bad videos) are counted.

    Returns:
        frames (B * views, T, 3, H, W) uint8, lengths (B * views,) int64, labels (B,) int64
        (-1: none), views, paths, skipped; items of cached features give features (B, T, D)
        instead of frames. Captioned items add tokens (B, L) (`<bos>` ... `<eos>`, padded)
        and references (B lists of strings).
    """
    good = [item for item in items if item is not None]
    batch: dict[str, Any] = {"skipped": len(items) - len(good)}
    if not good:
        return batch
    batch["labels"] = torch.tensor([g["label"] for g in good], dtype=torch.long)
    batch["paths"] = [g["path"] for g in good]
    if all("tokens" in g for g in good):
        batch["tokens"] = pad_sequence(
            [g["tokens"] for g in good], batch_first=True, padding_value=WordVocab.pad
        )
        batch["references"] = [g["references"] for g in good]
    if "features" in good[0]:  # cached frame features (see avseq.data.video.feature_cache)
        batch["features"] = pad_sequence([g["features"] for g in good], batch_first=True)
        batch["lengths"] = torch.tensor([len(g["features"]) for g in good], dtype=torch.long)
        batch["views"] = 1
        return batch
    views, _, c, h, w = good[0]["frames"].shape
    longest = max(g["frames"].shape[1] for g in good)
    frames = torch.zeros(len(good), views, longest, c, h, w, dtype=torch.uint8)
    lengths = torch.empty(len(good), views, dtype=torch.long)
    for i, g in enumerate(good):
        t = g["frames"].shape[1]
        frames[i, :, :t] = g["frames"]
        lengths[i] = t
    batch["frames"] = frames.flatten(0, 1)
    batch["lengths"] = lengths.flatten()
    batch["views"] = views
    return batch
