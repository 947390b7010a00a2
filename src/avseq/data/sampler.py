"""Duration-bucketed batching: batches of similar length, reshuffled every epoch, DDP-aware."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


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
        self.epoch = 0
        # Lightning calls `set_epoch` on `dataloader.sampler` and `batch_sampler.sampler`, not
        # on the batch sampler itself: expose ourselves there so every epoch is reshuffled
        self.sampler = self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

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

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        if self.num_replicas > 1:  # pad cyclically so every rank gets the same count (no hang)
            batches += batches[: len(self) * self.num_replicas - len(batches)]
        yield from batches[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.durations) / self.batch_size) / self.num_replicas)
