"""Action recognition task: cross-entropy on attention-pooled BiRNN states, top-1/top-5."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from avseq.models.components.video_encoder import VideoClassifier
from avseq.models.tasks.common import CHECKPOINT_FORMAT, AvseqTask


def view_average(logits: torch.Tensor, views: int) -> torch.Tensor:
    """(B * views, K) logits -> (B, K) class probabilities averaged over the views."""
    return logits.float().softmax(-1).view(-1, views, logits.size(-1)).mean(1)


class VideoActionTask(AvseqTask):
    """Trains a `VideoClassifier`; logs train/loss, val/loss, val/acc, val/top5 (and test/).

    Args:
        classes: class names in index order (saved in checkpoints).
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: `VideoClassifier` arguments (frame_encoder, rnn_type, hidden_size, ...).
        clip: how the data samples clips (size, num_frames, seconds, test_annotations);
            saved in checkpoints so `avseq classify` samples the same way.
        label_smoothing: cross-entropy label smoothing.
        warmup_steps: linear LR warmup steps.
        min_lr_ratio: final LR as a fraction of the peak.
    """

    def __init__(
        self,
        classes: list[str],
        optimizer: Callable[..., torch.optim.Optimizer],
        net: dict[str, Any] | None = None,
        clip: dict[str, Any] | None = None,
        label_smoothing: float = 0.0,
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.02,
    ) -> None:
        super().__init__()
        self.classes = list(classes)
        self.clip = dict(clip or {})
        net = dict(net or {})
        frame_encoder = dict(net.pop("frame_encoder", None) or {})
        frame_encoder.setdefault("image_size", self.clip.get("size", 64))
        self.net = VideoClassifier(len(self.classes), frame_encoder=frame_encoder, **net)
        self.optimizer_factory = optimizer
        self.label_smoothing = label_smoothing
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        k = len(self.classes)
        top5 = min(5, k)
        self.metrics = torch.nn.ModuleDict(
            {
                f"{stage}_{name}": MulticlassAccuracy(k, top_k=top_k, average="micro")
                for stage in ("val", "test")
                for name, top_k in (("acc", 1), ("top5", top5))
            }
        )

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(frames, lengths)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log_skipped(batch)
        if "labels" not in batch:
            return None
        logits, _ = self.net(batch.get("frames"), batch["lengths"], batch.get("features"))
        labels = batch["labels"]
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        n = labels.numel()
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/acc", (logits.argmax(-1) == labels).float().mean(), batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "labels" not in batch:
            return
        logits, _ = self.net(batch.get("frames"), batch["lengths"], batch.get("features"))
        probs = view_average(logits, batch["views"])
        labels = batch["labels"]
        n = labels.numel()
        loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels)
        self.log(f"{stage}/loss", loss, batch_size=n, sync_dist=True)
        for name in ("acc", "top5"):
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(probs, labels)
            self.log(f"{stage}/{name}", metric, prog_bar=name == "acc", batch_size=n)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["avseq"] = {
            "task": "video_action",
            "format": CHECKPOINT_FORMAT,
            "net": dict(self.net.config),
            "classes": self.classes,
            "clip": self.clip,
        }
