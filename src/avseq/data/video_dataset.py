"""Video clip dataset: workers decode and sample frames; the frame CNN lives in the model."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from avseq.data.annotations import Clip
from avseq.data.video import read_clip, read_selected, sample_indices
from avseq.data.vocab import WordVocab
from avseq.errors import BadVideoError

log = logging.getLogger(__name__)


def clip_views(frames: np.ndarray, num_frames: int, views: int, jitter: bool) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (views, t, 3, H, W) uint8, t = min(T, num_frames).

    Each view takes `num_frames` frames spread evenly over the whole clip; views differ in
    where inside each segment they sample (multi-clip testing), `jitter` draws it at random.
    """
    out = []
    for v in range(views):
        offset = None if jitter else (v + 0.5) / views
        out.append(frames[sample_indices(len(frames), num_frames, offset)])
    return torch.from_numpy(np.stack(out)).permute(0, 1, 4, 2, 3).contiguous()


class VideoClipDataset(Dataset):
    """Yields {"frames": (views, t, 3, size, size) uint8, "label", "path"} per clip.

    Args:
        clips: labelled videos.
        size: frame side after resizing the short side and centre-cropping.
        num_frames: frames sampled evenly over each clip.
        train: random position within each temporal segment (jitter) instead of the centre.
        views: temporal views per clip (multi-clip testing); 1 for training.
        reverse: play clips backwards (the temporal-order check).
        skip_bad: return None for unusable videos (collate drops and counts them) instead of
            raising `BadVideoError`.
        backend: video decoder, "pyav" or "torchcodec".
        vocab: encodes the clips' captions (items then carry "tokens": a random reference in
            training, the first otherwise, and "references": all of them).
        max_words: captions are cut to this many words for training.
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        size: int = 64,
        num_frames: int = 16,
        train: bool = False,
        views: int = 1,
        reverse: bool = False,
        skip_bad: bool = True,
        backend: str = "pyav",
        vocab: WordVocab | None = None,
        max_words: int = 30,
    ) -> None:
        self.clips = list(clips)
        self.vocab = vocab
        self.max_words = max_words
        self.backend = backend
        self.size = size
        self.num_frames = num_frames
        self.train = train
        self.views = views
        self.reverse = reverse
        self.skip_bad = skip_bad

    def __len__(self) -> int:
        return len(self.clips)

    def _indices(self, count: int) -> list[np.ndarray]:
        """Frame indices of each view over a clip of `count` frames (as played)."""
        views = [
            sample_indices(count, self.num_frames, None if self.train else (v + 0.5) / self.views)
            for v in range(self.views)
        ]
        return [count - 1 - v for v in views] if self.reverse else views

    def _frames(self, path: Path) -> torch.Tensor:
        if self.backend == "pyav":  # convert only the sampled frames when the count is known
            chosen: list[np.ndarray] = []

            def choose(count: int) -> np.ndarray:
                chosen.extend(self._indices(count))
                return np.concatenate(chosen)

            selected = read_selected(path, self.size, choose)
            if selected is not None:
                views = [np.stack([selected[i] for i in idx]) for idx in chosen]
                return torch.from_numpy(np.stack(views)).permute(0, 1, 4, 2, 3).contiguous()
        frames = read_clip(path, self.size, self.backend)
        if self.reverse:
            frames = frames[::-1]
        return clip_views(frames, self.num_frames, self.views, self.train)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        clip = self.clips[index]
        try:
            frames = self._frames(clip.path)
        except BadVideoError as err:
            if not self.skip_bad:
                raise BadVideoError(f"{clip.where}: {err}") from None
            log.warning("skipping %s: %s", clip.where, err)
            return None
        item = {"frames": frames, "label": clip.label, "path": str(clip.path)}
        return self.add_captions(item, clip)

    def add_captions(self, item: dict[str, Any], clip: Clip) -> dict[str, Any]:
        """Adds "references" and the "tokens" of one of them (see `vocab`)."""
        if self.vocab is not None and clip.captions:
            caption = random.choice(clip.captions) if self.train else clip.captions[0]
            ids = self.vocab.encode(caption, self.max_words)
            item["tokens"] = torch.tensor([WordVocab.bos, *ids, WordVocab.eos])
            item["references"] = list(clip.captions)
        return item


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
    if "features" in good[0]:  # cached frame features (see avseq.data.feature_cache)
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
