"""What every task shares: the optimiser with warmup + cosine decay, counting skipped items,
skipping non-finite optimizer steps, routing validation/test batches to one `_eval_step`."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from avseq.errors import AvseqError

log = logging.getLogger(__name__)


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
    """What the tasks share: the optimiser schedule, counting skipped bad items, skipping
    optimizer steps that would corrupt the weights, and routing validation/test batches to one
    `_eval_step(batch, stage)`.

    A step is skipped (the weights and the optimizer's moments stay as they were) when a batch's
    loss or any gradient is NaN/inf, or when no batch of the step held a usable item; the LR
    schedule still advances, so it follows batches. Skips are logged as `train/skipped_steps`
    (per epoch) and with a warning; under DDP every rank takes the same decision. After
    `nonfinite_patience` non-finite steps in a row training stops with an `AvseqError`.

    Subclasses set `optimizer_factory`, `warmup_steps` and `min_lr_ratio`, define
    `_eval_step`; their `training_step` returns `self.skip_batch()` for a batch without usable
    items or when `self.finite_loss(loss, items)` is False, and logs only finite losses.
    """

    optimizer_factory: Callable[..., torch.optim.Optimizer]
    warmup_steps: int
    min_lr_ratio: float
    nonfinite_patience: int = 50

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._step_items = 0  # usable items in the batches of the coming optimizer step
        self._step_nonfinite = False
        self._nonfinite_run = 0

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

    def finite_loss(self, loss: torch.Tensor, items: int) -> bool:
        """Records a batch of `items` usable items for this step; False (the step will be
        skipped) when its loss is NaN or infinite."""
        if not bool(torch.isfinite(loss.detach())):
            self._step_nonfinite = True
            return False
        self._step_items += items
        return True

    def skip_batch(self) -> torch.Tensor:
        """What `training_step` returns for a batch that must not move the weights: a zero loss
        that reaches every trainable parameter, so DDP's gradient reduction still sees each one
        (Lightning refuses a None under DDP)."""
        self._forget_step_values()
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.stack([p.sum() for p in params]).sum() * 0.0

    def _forget_step_values(self) -> None:
        """Lightning's logger connector re-logs a per-step metric's previous value on a step
        that logged none (its private `_forward_cache`); a skipped batch must log no loss."""
        results = getattr(self.trainer, "_results", None) or {}
        for metric in results.values():
            if metric.meta.fx == "training_step" and metric.meta.on_step:
                metric._forward_cache = None

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Skips the step (drops the gradients, so the optimizer leaves each weight and its
        moments alone) when it saw a non-finite loss or gradient or no usable item."""
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        grads = [g for g in grads if g is not None]
        finite = bool(grads) and bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))
        flags = torch.tensor(
            [float(self._step_nonfinite or (bool(grads) and not finite)), float(self._step_items)],
            device=self.device,
        )
        flags = self.trainer.strategy.reduce(flags, reduce_op="sum")  # the same on every rank
        nonfinite, items = bool(flags[0] > 0), bool(flags[1] > 0)
        self._step_items, self._step_nonfinite = 0, False
        skip = nonfinite or not items
        self.log(
            "train/skipped_steps",
            float(skip),
            reduce_fx="sum",
            on_step=False,
            on_epoch=True,
            batch_size=1,
        )
        self._nonfinite_run = self._nonfinite_run + 1 if nonfinite else 0
        if not skip:
            return
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        reason = "non-finite loss or gradients" if nonfinite else "no usable item in the batch"
        if self.trainer.is_global_zero:
            log.warning("step %d skipped: %s", self.global_step, reason)
        if self._nonfinite_run >= self.nonfinite_patience:
            raise AvseqError(
                f"{self._nonfinite_run} optimizer steps in a row had NaN/inf losses or "
                f"gradients (last at step {self.global_step}); lower model.optimizer.lr, "
                "train in 32-true precision, or check the data with 'avseq check-data'"
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
