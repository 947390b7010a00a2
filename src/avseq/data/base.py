"""What the data modules share: train/val/test loaders and the bad-item policy."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from avseq.errors import AvseqError

log = logging.getLogger(__name__)
BAD_ITEM_POLICIES = ("skip", "check")


def check_probability(name: str, value: float) -> float:
    """`value` as a float when it is a probability; else an error naming `data.augment.<name>`."""
    if not 0.0 <= float(value) <= 1.0:
        raise AvseqError(f"data.augment.{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_policy(on_bad_item: str) -> str:
    if on_bad_item not in BAD_ITEM_POLICIES:
        raise AvseqError(f"data.on_bad_item must be 'skip' or 'check', got {on_bad_item!r}")
    return on_bad_item


def report_bad_items(source: Path, problems: list[str], on_bad_item: str) -> None:
    """ "check": stop before training with the first problem; "skip": warn and go on."""
    if not problems:
        return
    if on_bad_item == "check":
        raise AvseqError(
            f"{source}: {len(problems)} bad item(s), first: {problems[0]} (list them all "
            f"with 'avseq check-data {source}', or set data.on_bad_item=skip)"
        )
    log.warning(
        "%s: skipped %d bad line(s), e.g. %s (run 'avseq check-data %s' for all)",
        source,
        len(problems),
        problems[0],
        source,
    )


class SplitDataModule(L.LightningDataModule):
    """Loaders for the train (shuffled), val and test splits; subclasses build `_loader`."""

    batch_size: int
    eval_batch_size: int

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
