"""What the benchmarks share: a plain PyTorch training loop and the Lightning pipeline, timed
on the same pre-loaded batches, alternated so warm-up and machine noise favour neither."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from avseq.utils.device import sync, to_device

LossFn = Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor]


def plain_loop(
    task: L.LightningModule,
    loss_fn: LossFn,
    batches: list[dict[str, Any]],
    device: torch.device,
    precision: str,
    clip: float,
    warmup: int,
) -> float:
    """A hand-written training loop over `task.net`; returns wall seconds for the timed batches."""
    net = task.net.to(device).train()
    opt = task.optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    scaler = torch.amp.GradScaler(enabled=precision == "16-mixed")
    start = 0.0
    for i, batch in enumerate(batches):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        b = to_device(batch, device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=precision == "16-mixed"):
            loss = loss_fn(net, b)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        scaler.step(opt)
        scaler.update()
    sync(device)
    return time.perf_counter() - start


class StepTimer(L.Callback):
    """Times training steps after `warmup`, and the gaps between them (waiting for data)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0
        self.wait, self._last_end = 0.0, None

    def on_train_batch_start(self, trainer, module, batch, idx) -> None:
        if idx == self.warmup:
            sync(module.device)
            self.start = time.perf_counter()
        elif idx > self.warmup and self._last_end is not None:
            self.wait += time.perf_counter() - self._last_end

    def on_train_batch_end(self, trainer, module, outputs, batch, idx) -> None:
        if idx >= self.warmup:
            self._last_end = time.perf_counter()

    def on_train_end(self, trainer, module) -> None:
        sync(module.device)
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def lightning_trainer(
    device: torch.device, precision: str, clip: float, steps: int, timer: StepTimer
) -> L.Trainer:
    return L.Trainer(
        accelerator=device.type,
        devices=1,
        precision=precision,
        max_epochs=1,
        max_steps=steps,
        gradient_clip_val=clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )


def lightning_loop(
    task: L.LightningModule,
    batches: list[dict[str, Any]],
    device: torch.device,
    precision: str,
    clip: float,
    warmup: int,
    ckpt: Path | None = None,
) -> float:
    """The Lightning pipeline on the same batches; returns wall seconds for the timed ones."""
    timer = StepTimer(warmup)
    trainer = lightning_trainer(device, precision, clip, len(batches), timer)
    trainer.fit(task, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    if ckpt is not None:
        trainer.save_checkpoint(ckpt, weights_only=False)
    return timer.seconds


def compare(
    task: L.LightningModule,
    loss_fn: LossFn,
    batches: list[dict[str, Any]],
    device: torch.device,
    precision: str,
    clip: float,
    warmup: int,
    repeats: int,
    ckpt: Path,
) -> tuple[float, float]:
    """Best (plain, Lightning) seconds over `repeats` alternating runs from the same weights;
    the last Lightning run's weights are saved to `ckpt`."""
    plain_s, light_s = float("inf"), float("inf")
    for _ in range(repeats):
        plain_s = min(
            plain_s,
            plain_loop(copy.deepcopy(task), loss_fn, batches, device, precision, clip, warmup),
        )
        light_s = min(
            light_s,
            lightning_loop(copy.deepcopy(task), batches, device, precision, clip, warmup, ckpt),
        )
    return plain_s, light_s
