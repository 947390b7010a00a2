"""Keyword classification task: cross-entropy over attention-pooled speech encoder states,
top-1 accuracy, AdamW with warmup and cosine decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from avseq.models.checkpoint import write_record
from avseq.models.components.keyword import KeywordClassifier
from avseq.models.components.specs import net_spec
from avseq.models.tasks.common import AvseqTask


class KeywordTask(AvseqTask):
    """Trains a `KeywordClassifier`; logs train/loss, train/acc, val/loss, val/acc (top-1)
    and the same under test/.

    Args:
        classes: class names in index order (saved in checkpoints).
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: builds the classifier given `num_classes` (a Hydra `_partial_` of
            `build_keyword_classifier` with its parts, see configs/model/keyword.yaml).
        label_smoothing: of the cross-entropy.
        warmup_steps: linear LR warmup steps.
        min_lr_ratio: final LR as a fraction of the peak.
        test_manifest: the data's test manifest, recorded as `avseq evaluate`'s default.
    """

    def __init__(
        self,
        classes: list[str],
        optimizer: Callable[..., torch.optim.Optimizer],
        net: Callable[..., KeywordClassifier],
        label_smoothing: float = 0.0,
        warmup_steps: int = 500,
        min_lr_ratio: float = 0.02,
        test_manifest: str | None = None,
    ) -> None:
        super().__init__()
        self.classes = list(classes)
        sizes = {"num_classes": len(self.classes)}
        self.net_spec = net_spec(net, **sizes)  # saved in checkpoints
        self.net = net(**sizes)
        self.optimizer_factory = optimizer
        self.label_smoothing = label_smoothing
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self.test_manifest = test_manifest  # default manifest of `avseq evaluate`
        k = len(self.classes)
        self.val_acc = MulticlassAccuracy(k, top_k=1, average="micro")
        self.test_acc = MulticlassAccuracy(k, top_k=1, average="micro")

    def forward(
        self, waves: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(waves, lengths)

    def _loss(self, batch: dict[str, Any], smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, (B, K) logits) of a batch."""
        logits, _ = self.net(batch["waves"], batch["wave_lengths"])
        loss = F.cross_entropy(logits.float(), batch["labels"], label_smoothing=smoothing)
        return loss, logits

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.log_skipped(batch)
        if "waves" not in batch:
            return self.skip_batch()
        loss, logits = self._loss(batch, self.label_smoothing)
        waves, lengths, labels = batch["waves"], batch["wave_lengths"], batch["labels"]
        n = waves.size(0)
        if not self.finite_loss(loss, n):
            return self.skip_batch()
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/acc", (logits.argmax(-1) == labels).float().mean(), batch_size=n)
        self.log("train/pad_frac", 1 - lengths.sum() / waves.numel(), batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "waves" not in batch:
            return
        loss, logits = self._loss(batch, 0.0)
        n = logits.size(0)
        metric = self.val_acc if stage == "val" else self.test_acc
        metric.update(logits.float(), batch["labels"])
        self.log(f"{stage}/loss", loss, batch_size=n, sync_dist=True)
        self.log(f"{stage}/acc", metric, prog_bar=True, batch_size=n)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_record(
            checkpoint,
            "keyword",
            self.net_spec,
            classes=self.classes,
            test_manifest=self.test_manifest,
        )
