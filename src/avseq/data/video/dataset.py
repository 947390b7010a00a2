"""Video clip dataset: workers decode and sample frames; the frame CNN lives in the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from avseq.data.video.annotations import Clip
from avseq.data.video.augment import VideoAugment
from avseq.errors import BadVideoError
from avseq.media.clips import clip_views
from avseq.media.video import read_clip, read_selected, sample_indices
from avseq.text.vocab import WordVocab

log = logging.getLogger(__name__)


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
        augment: training-time changes to the sampled frames and where they are sampled
            (with `train` only; its draws come from the item's generator like the rest).
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
        augment: VideoAugment | None = None,
    ) -> None:
        self.clips = list(clips)
        self.augment = augment if train else None
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

    def _indices(self, count: int, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Frame indices of each view over a clip of `count` frames (as played)."""
        if self.augment is not None:
            assert rng is not None
            return [self.augment.indices(count, self.num_frames, rng) for _ in range(self.views)]
        views = [
            sample_indices(
                count, self.num_frames, None if self.train else (v + 0.5) / self.views, rng
            )
            for v in range(self.views)
        ]
        return [count - 1 - v for v in views] if self.reverse else views

    def _frames(self, path: Path, rng: np.random.Generator | None) -> torch.Tensor:
        if self.backend == "pyav":  # convert only the sampled frames when the count is known
            chosen: list[np.ndarray] = []

            def choose(count: int) -> np.ndarray:
                chosen.extend(self._indices(count, rng))
                return np.concatenate(chosen)

            selected = read_selected(path, self.size, choose)
            if selected is not None:
                views = [np.stack([selected[i] for i in idx]) for idx in chosen]
                return torch.from_numpy(np.stack(views)).permute(0, 1, 4, 2, 3).contiguous()
        frames = read_clip(path, self.size, self.backend)
        if self.reverse:
            frames = frames[::-1]
        if self.augment is not None:
            picked = np.stack([frames[i] for i in self._indices(len(frames), rng)])
            return torch.from_numpy(picked).permute(0, 1, 4, 2, 3).contiguous()
        return clip_views(frames, self.num_frames, self.views, self.train, rng)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        """A clip by index, or by `(index, seed)` (`BucketBatchSampler(seeded=True)`): then its
        random draws (frame jitter, the caption picked, the augmentation) come from a generator
        of that seed, the same in a resumed run and in any worker."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        rng = np.random.default_rng(seed) if seed is not None else np.random.default_rng()
        clip = self.clips[index]
        try:
            frames = self._frames(clip.path, rng)
        except BadVideoError as err:
            if not self.skip_bad:
                raise BadVideoError(f"{clip.where}: {err}") from None
            log.warning("skipping %s: %s", clip.where, err)
            return None
        item = self.add_captions(
            {"frames": frames, "label": clip.label, "path": str(clip.path)}, clip, rng
        )
        if self.augment is not None:
            item["frames"] = self.augment.frames(frames, rng)
        return item

    def add_captions(
        self, item: dict[str, Any], clip: Clip, rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Adds "references" and the "tokens" of one of them (see `vocab`): in training one
        drawn from `rng`."""
        if self.vocab is not None and clip.captions:
            pick = (rng or np.random.default_rng()).integers(len(clip.captions))
            caption = clip.captions[int(pick)] if self.train else clip.captions[0]
            ids = self.vocab.encode(caption, self.max_words)
            item["tokens"] = torch.tensor([WordVocab.bos, *ids, WordVocab.eos])
            item["references"] = list(clip.captions)
        return item
