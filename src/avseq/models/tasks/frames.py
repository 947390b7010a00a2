"""The frame prediction task: mean squared error of predicted frames, PSNR/SSIM per horizon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from avseq.metrics.frames import HorizonScores, copy_last
from avseq.models.checkpoint import write_record
from avseq.models.components.frame_predictor import FramePredictor
from avseq.models.components.specs import net_spec
from avseq.models.tasks.common import AvseqTask


class FramePredictionTask(AvseqTask):
    """Trains a `FramePredictor`: mean squared error of the future frames, rolled out from the
    model's own predictions, plus (`context_weight`) that of the one-step predictions of the
    observed frames, plus an optional SSIM term.

    Logs train/loss and train/future_mse; val/loss (MSE of the rolled-out future frames),
    val/psnr (the mean over horizons), val/psnr_h{h} and val/ssim_h{h} per horizon, and
    val/psnr_copy_last (the copy-last-frame baseline, for scale); the same under test/.

    Args:
        optimizer: builds the optimizer given `params` (a Hydra `_partial_`).
        net: builds the `FramePredictor` given `image_size` (a Hydra `_partial_`, see
            configs/model/video_frames.yaml).
        clip: how the data samples sequences: size, context_frames, future_frames, ...
            (saved in checkpoints, so evaluation and `avseq predict-frames` do the same).
        teacher_forcing: the chance of feeding a true future frame back instead of the
            prediction at the start of training, falling linearly to 0 at its end (scheduled
            sampling); 0 always feeds predictions back, as at test time.
        context_weight: weight of the observed frames' one-step loss (0: not decoded).
        ssim_weight: weight of 1 - SSIM of the future frames (0: MSE alone).
        warmup_steps, min_lr_ratio: the learning-rate schedule.
    """

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        net: Callable[..., FramePredictor],
        clip: dict[str, Any],
        teacher_forcing: float = 0.0,
        context_weight: float = 1.0,
        ssim_weight: float = 0.0,
        warmup_steps: int = 100,
        min_lr_ratio: float = 0.02,
    ) -> None:
        super().__init__()
        if not 0 <= teacher_forcing <= 1:
            raise ValueError(f"model.teacher_forcing must be in [0, 1], got {teacher_forcing}")
        if context_weight < 0 or ssim_weight < 0:
            raise ValueError(
                f"model.context_weight and model.ssim_weight must be >= 0, got "
                f"{context_weight}, {ssim_weight}"
            )
        self.clip = dict(clip)
        self.context = int(self.clip["context_frames"])
        self.future = int(self.clip["future_frames"])
        sizes = {"image_size": int(self.clip["size"])}
        self.net_spec = net_spec(net, **sizes)  # saved in checkpoints
        self.net = net(**sizes)
        self.optimizer_factory = optimizer
        self.teacher_forcing = teacher_forcing
        self.context_weight = context_weight
        self.ssim_weight = ssim_weight
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self.scores = torch.nn.ModuleDict(
            {stage: HorizonScores(self.future) for stage in ("val", "test")}
        )
        self.baseline = torch.nn.ModuleDict(
            {stage: HorizonScores(self.future) for stage in ("val", "test")}
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, n, 3, S, S) observed frames in [0, 1] -> (B, future, 3, S, S)."""
        return self.net(frames, self.future)

    def _split(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(observed, future) frames of a batch, as floats in [0, 1]."""
        frames = batch["frames"].float() / 255.0  # (B, n + k, 3, S, S)
        return frames[:, : self.context], frames[:, self.context : self.context + self.future]

    def _teacher_prob(self) -> float:
        if self.teacher_forcing <= 0 or self._trainer is None:
            return 0.0
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return self.teacher_forcing * max(0.0, 1.0 - self.global_step / total)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.log_skipped(batch)
        if "frames" not in batch:
            return self.skip_batch()
        observed, future = self._split(batch)
        n = observed.size(0)
        with_context = self.context_weight > 0
        preds = self.net(observed, self.future, future, self._teacher_prob(), with_context)
        future_preds = preds[:, -self.future :]
        future_mse = F.mse_loss(future_preds, future)
        loss = future_mse
        if with_context:
            context_mse = F.mse_loss(preds[:, : -self.future], observed[:, 1:])
            loss = loss + self.context_weight * context_mse
        if self.ssim_weight > 0:
            ssim = structural_similarity_index_measure(
                future_preds.flatten(0, 1), future.flatten(0, 1), data_range=1.0
            )
            loss = loss + self.ssim_weight * (1 - ssim)
        if not self.finite_loss(loss, n):
            return self.skip_batch()
        self.log("train/future_mse", future_mse, batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "frames" not in batch:
            return
        observed, future = self._split(batch)
        preds = self.net(observed, self.future)
        self.log(f"{stage}/loss", F.mse_loss(preds, future), batch_size=observed.size(0))
        self.scores[stage].update(preds, future)
        self.baseline[stage].update(copy_last(observed, self.future), future)

    def _log_scores(self, stage: str) -> None:
        scores, baseline = self.scores[stage].compute(), self.baseline[stage].compute()
        for h, (psnr, ssim) in enumerate(zip(scores["psnr"], scores["ssim"], strict=True), 1):
            self.log(f"{stage}/psnr_h{h}", psnr)
            self.log(f"{stage}/ssim_h{h}", ssim)
        self.log(f"{stage}/psnr", sum(scores["psnr"]) / self.future, prog_bar=True)
        self.log(f"{stage}/psnr_copy_last", sum(baseline["psnr"]) / self.future)
        self.scores[stage].reset()
        self.baseline[stage].reset()

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_record(checkpoint, "video_frames", self.net_spec, clip=self.clip)
