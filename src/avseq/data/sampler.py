"""Duration-bucketed batching: batches of similar length, reshuffled every epoch, DDP-aware;
and a DataLoader over it that Lightning resumes mid-epoch where it stopped."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for item `index`'s random draws in `epoch`: the same in every process and
    in a resumed run, whatever worker loads the item."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BucketBatchSampler(Sampler[list[int]]):
    """Yields batches of indices whose items have similar durations.

    Each epoch the items are shuffled, cut into pools of `pool_batches` batches, each pool is
    sorted by duration and cut into batches, and the batches are shuffled again. Padding stays
    low while batch composition changes between epochs. Under DDP each rank takes every
    `num_replicas`-th batch; the batch list is padded by repeating its first batches so all
    ranks get the same number (as `DistributedSampler` pads), which DDP needs to stay in step.

    With `sortagrad`, the first epoch visits its batches from shortest to longest, which gets
    CTC training out of its initial all-blank plateau sooner (Amodei et al., 2016, "Deep
    Speech 2", section 3.1).

    Args:
        durations: one duration (seconds) per dataset item.
        batch_size: items per batch.
        shuffle: reshuffle every epoch (training); otherwise sorted, fixed order.
        seed: base seed; the epoch is added (call `set_epoch`).
        num_replicas: DDP world size.
        rank: this process's DDP rank.
        pool_batches: batches per sorting pool.
        sortagrad: order the first epoch's batches by duration.
        seeded: yield `(index, item_seed(seed, epoch, index))` pairs instead of indices, so
            each item's augmentation draws from its own generator (exact on resume).
    """

    def __init__(
        self,
        durations: Sequence[float],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        pool_batches: int = 64,
        sortagrad: bool = False,
        seeded: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside world size {num_replicas}")
        self.durations = list(durations)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool_batches = pool_batches
        self.sortagrad = sortagrad
        self.seeded = seeded
        self.epoch = 0
        self._start = 0
        # Lightning calls `set_epoch` on `dataloader.sampler` and `batch_sampler.sampler`, not
        # on the batch sampler itself: expose ourselves there so every epoch is reshuffled
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def start_at(self, batches: int) -> None:
        """The next pass over this epoch leaves out its first `batches` batches (a resume)."""
        self._start = batches

    def _all_batches(self) -> list[list[int]]:
        order = list(range(len(self.durations)))
        if not self.shuffle:
            order.sort(key=lambda i: self.durations[i])
            return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(self.seed + self.epoch)
        rng.shuffle(order)
        pool = self.batch_size * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.durations[i])
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        if self.sortagrad and self.epoch == 0:
            batches.sort(key=lambda b: max(self.durations[i] for i in b))
        else:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[Any]]:
        start, self._start = self._start, 0
        batches = self._all_batches()
        if self.num_replicas > 1:  # pad cyclically so every rank gets the same count (no hang)
            batches += batches[: len(self) * self.num_replicas - len(batches)]
        for batch in batches[self.rank :: self.num_replicas][start:]:
            yield (
                [(i, item_seed(self.seed, self.epoch, i)) for i in batch] if self.seeded else batch
            )

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.durations) / self.batch_size) / self.num_replicas)


class ResumableLoader(DataLoader):
    """A DataLoader over a `BucketBatchSampler` that Lightning resumes mid-epoch.

    Its `state_dict` (the sampler's epoch and the batches handed out in it) is what Lightning's
    fit loop stores in every checkpoint for a loader that has one; after `load_state_dict`,
    the pass over that epoch starts after those batches, without loading them. Counting here,
    not in the sampler, keeps batches that workers prefetched but training never saw out of
    the count. The pass starts on the first batch asked for, after Lightning set the epoch.
    """

    _position: tuple[int, int] = (0, 0)  # (epoch, batches handed out in it)
    _resume: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[Any]:
        sampler = self.batch_sampler
        assert isinstance(sampler, BucketBatchSampler), "ResumableLoader needs a BucketBatchSampler"
        start = self._resume[1] if self._resume and self._resume[0] == sampler.epoch else 0
        self._resume = None
        sampler.start_at(start)
        self._position = (sampler.epoch, start)
        for batch in super().__iter__():
            self._position = (self._position[0], self._position[1] + 1)
            yield batch

    def state_dict(self) -> dict[str, int]:
        epoch, batches = self._position
        return {"epoch": epoch, "batches": batches}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume = (int(state_dict["epoch"]), int(state_dict["batches"]))


def batch_loader(
    dataset: Dataset,
    durations: Sequence[float],
    batch_size: int,
    shuffle: bool,
    seed: int,
    trainer: Any,
    collate_fn: Any,
    num_workers: int = 0,
    seeded: bool = True,
    sortagrad: bool = False,
) -> DataLoader:
    """The loader every data module uses: batches of similar durations (`BucketBatchSampler`),
    sharded by the sampler itself under DDP (set `trainer.use_distributed_sampler=false`).

    A training loader (`shuffle`) is a `ResumableLoader`, and with `seeded` its dataset gets
    `(index, seed)` keys, so each item's random draws are the same in a resumed run; evaluation
    runs whole, in a fixed order.
    """
    sampler = BucketBatchSampler(
        durations,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        num_replicas=trainer.world_size if trainer else 1,
        rank=trainer.global_rank if trainer else 0,
        sortagrad=sortagrad and shuffle,
        seeded=seeded and shuffle,
    )
    loader = ResumableLoader if shuffle else DataLoader
    return loader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=num_workers > 0 and shuffle,
        # its own generator for worker seeds: making a loader never draws from the global
        # one, whose state a checkpoint saves for the model's random draws
        generator=torch.Generator().manual_seed(seed),
    )
