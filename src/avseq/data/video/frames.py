"""Frame prediction data: clips as fixed-length frame sequences, decoded once into memory.

A sequence is `context_frames + future_frames` frames spread evenly over a clip
(`avseq.media.sequences.read_sequence`); the model sees the first `context_frames` and predicts
the rest. Labels and captions are not used. Decoding once (in `num_workers` processes) and
training from memory is what makes several epochs fit a 2-core budget: decoding a clip costs
more than a training step spends on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from avseq.data.base import report_bad_items
from avseq.data.sampler import batch_loader
from avseq.data.synth.video import VideoCorpusSpec
from avseq.data.video.annotations import Clip
from avseq.data.video.datamodule import VideoDataModule
from avseq.errors import AvseqError, BadVideoError
from avseq.media.sequences import read_sequence

log = logging.getLogger(__name__)


def _decode(args: tuple[str, int, int, str]) -> np.ndarray | str:
    """One clip's (n, size, size, 3) frames, or the error message (in a worker)."""
    path, size, n, backend = args
    try:
        return read_sequence(path, size, n, backend)
    except BadVideoError as err:
        return str(err)


def _decoded(jobs: list[tuple[str, int, int, str]], workers: int) -> Iterator[np.ndarray | str]:
    """`_decode` of each job, in order, in `workers` processes (0: here)."""
    if workers > 0 and len(jobs) > 1:
        with get_context("fork").Pool(workers) as pool:
            yield from pool.imap(_decode, jobs, chunksize=16)
    else:
        yield from map(_decode, jobs)


class FrameSequenceDataset(Dataset):
    """Yields {"frames": (T, 3, size, size) uint8, "path"} per clip, from memory.

    Args:
        clips: the videos (labels are ignored).
        size: frame side after resizing the short side and centre-cropping.
        num_frames: frames per sequence, spread evenly over each clip.
        workers: processes decoding the clips (0: in this process).
        backend: video decoder, "pyav" or "torchcodec".
        flip: training only: mirror a sequence left-right, up-down or both at random.
        reverse: training only: play a sequence backwards at random (the built-in actions
            come in time-reversed pairs, so a reversed clip is a plausible clip).
    """

    def __init__(
        self,
        clips: list[Clip],
        size: int,
        num_frames: int,
        workers: int = 0,
        backend: str = "pyav",
        flip: bool = False,
        reverse: bool = False,
    ) -> None:
        self.flip, self.reverse = flip, reverse
        jobs = [(str(c.path), size, num_frames, backend) for c in clips]
        frames = torch.empty((len(jobs), num_frames, 3, size, size), dtype=torch.uint8)
        self.paths: list[str] = []
        self.problems: list[str] = []
        for clip, d in zip(clips, _decoded(jobs, workers), strict=True):  # one copy in memory
            if isinstance(d, str):
                self.problems.append(f"{clip.where}: {d}")
                continue
            frames[len(self.paths)] = torch.from_numpy(d).permute(0, 3, 1, 2)
            self.paths.append(str(clip.path))
        self.frames = frames[: len(self.paths)]  # (N, T, 3, H, W) uint8, one block

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """A sequence by index, or by `(index, seed)` (the seeded training sampler): its random
        flips and reversal then come from a generator of that seed (the same on resume)."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        frames = self.frames[index]
        if seed is not None and (self.flip or self.reverse):
            draw = np.random.default_rng(seed).random(3)
            dims = [d for d, u in ((-1, draw[0]), (-2, draw[1])) if self.flip and u < 0.5]
            if self.reverse and draw[2] < 0.5:
                dims.append(0)
            frames = frames.flip(dims) if dims else frames
        return {"frames": frames, "path": self.paths[index]}


def collate_sequences(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacks sequences: frames (B, T, 3, H, W) uint8, paths, skipped (always 0: bad clips
    were left out, and reported, when the data was loaded)."""
    return {
        "frames": torch.stack([item["frames"] for item in items]),
        "paths": [item["path"] for item in items],
        "skipped": 0,
    }


class FrameDataModule(VideoDataModule):
    """Clips for frame prediction: the built-in clips when `corpus` is set, or your own videos
    (the annotation layouts of `VideoDataModule`; labels are read but not used).

    Args:
        corpus, train_annotations, val_annotations, test_annotations, video_root, size,
            batch_size, eval_batch_size, num_workers, on_bad_item, decoder, seed: as for
            `VideoDataModule`.
        context_frames: frames the model sees.
        future_frames: frames it predicts after them.
        flip, reverse: training-time mirroring and time reversal (see `FrameSequenceDataset`).
    """

    def __init__(
        self,
        corpus: VideoCorpusSpec | None = None,
        train_annotations: str | None = None,
        val_annotations: str | None = None,
        test_annotations: str | None = None,
        video_root: str | None = None,
        size: int = 64,
        context_frames: int = 8,
        future_frames: int = 4,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 2,
        on_bad_item: str = "skip",
        decoder: str = "pyav",
        seed: int = 0,
        flip: bool = True,
        reverse: bool = True,
    ) -> None:
        if context_frames < 2 or future_frames < 1:
            raise AvseqError(
                f"data.context_frames={context_frames} (>= 2: motion needs two frames), "
                f"data.future_frames={future_frames} (>= 1)"
            )
        super().__init__(
            corpus=corpus,
            train_annotations=train_annotations,
            val_annotations=val_annotations,
            test_annotations=test_annotations,
            video_root=video_root,
            size=size,
            num_frames=context_frames + future_frames,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            on_bad_item=on_bad_item,
            decoder=decoder,
            seed=seed,
        )
        self.captions_path = None  # frames need neither captions nor a vocabulary
        self.context_frames, self.future_frames = context_frames, future_frames
        self.flip, self.reverse = flip, reverse
        self.sequences: dict[str, FrameSequenceDataset] = {}

    def task_inputs(self) -> dict[str, Any]:
        """How sequences are sampled (saved in checkpoints, so evaluation and
        `avseq predict-frames` sample the same way)."""
        clip = super().task_inputs()["clip"]
        del clip["num_frames"], clip["captions"]
        return {
            "clip": {
                **clip,
                "context_frames": self.context_frames,
                "future_frames": self.future_frames,
            }
        }

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage or "fit", ["train", "val"]
        )
        for split in splits:
            if split in self.sequences:
                continue
            clips = self.load_split(split)
            train = split == "train"
            data = FrameSequenceDataset(
                clips,
                self.size,
                self.num_frames,
                self.num_workers,
                self.decoder,
                flip=train and self.flip,
                reverse=train and self.reverse,
            )
            source = self.sources[split] or Path(split)
            report_bad_items(source, data.problems, self.on_bad_item)
            if not len(data):
                raise AvseqError(f"{source}: no readable videos (check with 'avseq check-data')")
            log.info("%s: %d sequences of %d frames in memory", split, len(data), self.num_frames)
            self.sequences[split] = data

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.sequences[split]
        # the sequences are in memory already: worker processes would only copy them
        return batch_loader(
            dataset, [1.0] * len(dataset), batch_size, shuffle, self.seed, self.trainer,
            collate_sequences, num_workers=0,
        )  # fmt: skip
