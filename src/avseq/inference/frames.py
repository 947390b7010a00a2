"""A trained frame predictor: THE predict path for future frames, used by `avseq predict-frames`
and by the evaluation (`avseq evaluate` on a video_frames checkpoint)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from avseq.errors import AvseqError
from avseq.media.sequences import read_sequence
from avseq.media.side_by_side import write_comparison
from avseq.media.video import video_info
from avseq.metrics.frames import BASELINES, FRAME_PSNR_CAP
from avseq.models.checkpoint import load_frame_model
from avseq.utils.device import pick_device


def frame_psnr(pred: torch.Tensor, target: torch.Tensor) -> list[float]:
    """(k, 3, H, W) frames in [0, 1] -> each frame's PSNR in dB, capped at FRAME_PSNR_CAP
    (identical frames would give infinity, which JSON cannot hold)."""
    mse = ((pred.float() - target.float()) ** 2).flatten(1).mean(1)
    psnr = 10 * torch.log10(1.0 / mse.clamp_min(10 ** (-FRAME_PSNR_CAP / 10)))
    return [round(float(v), 3) for v in psnr]


@dataclass
class VideoFramePredictor:
    """Predicts the frames after the first `context_frames` of a clip, the way the checkpoint
    was trained (`context_frames + future_frames` frames spread evenly over the clip).

    Args:
        checkpoint: a video_frames .ckpt written by `avseq train experiment=video_frames`.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        batch_size: sequences run through the model together.
        window_factor: a video longer than this many training-clip lengths is read over its
            first training-clip length only (the predictor was trained on clips that long).
    """

    checkpoint: str | Path
    device: str = "auto"
    batch_size: int = 16
    window_factor: float = 1.5
    compute_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise AvseqError(f"--batch-size {self.batch_size}: must be at least 1")
        self.torch_device = pick_device(self.device)
        self.model, self.meta = load_frame_model(self.checkpoint, self.torch_device)
        clip = self.meta["clip"]
        self.size = int(clip["size"])
        self.context = int(clip["context_frames"])
        self.future = int(clip["future_frames"])
        self.clip_seconds = float(clip.get("seconds") or 2.0)

    @property
    def num_frames(self) -> int:
        return self.context + self.future

    def read(self, path: str | Path) -> torch.Tensor:
        """A video's (context + future, 3, size, size) uint8 frames, spread evenly over it (or
        over its first training-clip length when it is much longer than the training clips)."""
        info = video_info(path)
        long = info.duration > self.window_factor * self.clip_seconds
        seconds = self.clip_seconds if long else None
        frames = read_sequence(path, self.size, self.num_frames, seconds=seconds)
        return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()

    @torch.inference_mode()
    def predict(self, observed: torch.Tensor) -> torch.Tensor:
        """(B, context, 3, S, S) uint8 (or float in [0, 1]) -> (B, future, 3, S, S) float in
        [0, 1] on the CPU, autoregressively."""
        if observed.dim() != 5 or observed.size(1) != self.context:
            raise ValueError(
                f"expected (B, {self.context}, 3, S, S) observed frames, "
                f"got {tuple(observed.shape)}"
            )
        start = time.perf_counter()
        out = []
        for b in range(0, observed.size(0), self.batch_size):
            x = observed[b : b + self.batch_size].to(self.torch_device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            out.append(self.model(x, self.future).float().cpu())
        self.compute_seconds += time.perf_counter() - start
        return torch.cat(out)

    def predict_file(
        self, path: str | Path, output: str | Path | None = None, fps: float = 4.0
    ) -> dict[str, Any]:
        """Predicts a video's future frames; with `output` (.gif, .mp4 or .png) writes the true
        and predicted frames side by side there. Returns {"video", "context_frames",
        "future_frames", "psnr" per horizon, and the baselines' "psnr_copy_last",
        "psnr_linear_extrapolation"; "output" when written}."""
        frames = self.read(path)
        observed, future = frames[None, : self.context], frames[self.context :].float() / 255.0
        predicted = self.predict(observed)[0]
        result: dict[str, Any] = {
            "video": str(path),
            "context_frames": self.context,
            "future_frames": self.future,
            "psnr": frame_psnr(predicted, future),
        }
        seen = observed.float() / 255.0
        for name, baseline in BASELINES.items():
            result[f"psnr_{name}"] = frame_psnr(baseline(seen, self.future)[0], future)
        if output is not None:
            true_rgb = frames.permute(0, 2, 3, 1).numpy()
            pred_rgb = (predicted.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).numpy()
            write_comparison(Path(output), true_rgb, pred_rgb, fps)
            result["output"] = str(output)
        return result
