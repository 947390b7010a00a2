"""What every task shares: the optimiser with warmup + cosine decay, counting skipped items,
routing validation/test batches to one `_eval_step`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear warmup to 1, then cosine decay to `min_ratio` at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def warmup_cosine_optimizers(
    module: L.LightningModule,
    optimizer_factory: Callable[..., torch.optim.Optimizer],
    warmup_steps: int,
    min_lr_ratio: float,
) -> dict[str, Any]:
    """`configure_optimizers` result: the optimizer over trainable parameters, stepped per batch
    by warmup (at most a tenth of the run) then cosine decay over the whole run."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = optimizer_factory(params=params)
    total = int(module.trainer.estimated_stepping_batches)
    schedule = warmup_cosine(min(warmup_steps, max(1, total // 10)), total, min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class AvseqTask(L.LightningModule):
    """What the tasks share: the optimiser schedule, counting skipped bad items, and routing
    validation/test batches to one `_eval_step(batch, stage)`.

    Subclasses set `optimizer_factory`, `warmup_steps` and `min_lr_ratio`, and define
    `_eval_step`.
    """

    optimizer_factory: Callable[..., torch.optim.Optimizer]
    warmup_steps: int
    min_lr_ratio: float

    def log_skipped(self, batch: dict[str, Any]) -> None:
        """Logs `train/skipped_items`: bad items the data loader left out this epoch."""
        self.log(
            "train/skipped_items",
            float(batch["skipped"]),
            reduce_fx="sum",
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            batch_size=1,
        )

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        raise NotImplementedError

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        return warmup_cosine_optimizers(
            self, self.optimizer_factory, self.warmup_steps, self.min_lr_ratio
        )
