"""Frame prediction scores per horizon (PSNR and SSIM, torchmetrics), and the two baselines a
frame predictor has to beat: copying the last observed frame, and extrapolating it linearly."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

# one frame's PSNR is infinite when it is predicted exactly (a still clip whose decoded frames
# are identical): the per-frame mean caps each frame here
FRAME_PSNR_CAP = 60.0


def copy_last(frames: torch.Tensor, future: int) -> torch.Tensor:
    """(B, n, C, H, W) observed frames -> (B, future, C, H, W): the last one, repeated."""
    return frames[:, -1:].expand(-1, future, *frames.shape[2:])


def linear_extrapolation(frames: torch.Tensor, future: int) -> torch.Tensor:
    """(B, n, C, H, W) observed frames in [0, 1] -> (B, future, C, H, W): each pixel continued
    along the line through its last two values, x_t + h (x_t - x_{t-1}) at horizon h (for h = 1,
    2 x_t - x_{t-1}), clipped to [0, 1]."""
    last, before = frames[:, -1:], frames[:, -2:-1]
    h = torch.arange(1, future + 1, device=frames.device, dtype=frames.dtype)
    return (last + h.view(1, -1, 1, 1, 1) * (last - before)).clamp(0, 1)


BASELINES = {"copy_last": copy_last, "linear_extrapolation": linear_extrapolation}


class HorizonScores(nn.Module):
    """PSNR and SSIM of predicted frames at each horizon 1..future, over a whole split.

    `psnr` is torchmetrics' PeakSignalNoiseRatio over all pixels of all frames at a horizon,
    10 log10(1 / MSE) for frames in [0, 1]; `psnr_frame_mean` the mean of each frame's own PSNR
    (each capped at FRAME_PSNR_CAP dB); `ssim` torchmetrics' StructuralSimilarityIndexMeasure,
    the mean over frames (Gaussian window 11, sigma 1.5).
    """

    def __init__(self, future: int) -> None:
        super().__init__()
        self.future = future
        self.psnr = nn.ModuleList(PeakSignalNoiseRatio(data_range=1.0) for _ in range(future))
        self.frame_psnr = nn.ModuleList(
            PeakSignalNoiseRatio(data_range=1.0, reduction="none", dim=(1, 2, 3))
            for _ in range(future)
        )
        self.ssim = nn.ModuleList(
            StructuralSimilarityIndexMeasure(data_range=1.0) for _ in range(future)
        )

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        """(B, future, C, H, W) predictions and true frames, both in [0, 1]."""
        if preds.shape != targets.shape or preds.size(1) != self.future:
            raise ValueError(
                f"expected (B, {self.future}, C, H, W) predictions and targets, got "
                f"{tuple(preds.shape)} and {tuple(targets.shape)}"
            )
        preds, targets = preds.float(), targets.float()
        for h in range(self.future):
            for metric in (self.psnr[h], self.frame_psnr[h], self.ssim[h]):
                metric.update(preds[:, h], targets[:, h])

    def compute(self) -> dict[str, list[float]]:
        """{"psnr", "psnr_frame_mean", "ssim"}: one value per horizon."""
        frame_mean = [float(m.compute().clamp(max=FRAME_PSNR_CAP).mean()) for m in self.frame_psnr]
        return {
            "psnr": [float(m.compute()) for m in self.psnr],
            "psnr_frame_mean": frame_mean,
            "ssim": [float(m.compute()) for m in self.ssim],
        }

    def reset(self) -> None:
        for metrics in (self.psnr, self.frame_psnr, self.ssim):
            for metric in metrics:
                metric.reset()
