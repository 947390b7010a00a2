"""Frame prediction evaluation: PSNR and SSIM per horizon of a checkpoint's predictions and of
the copy-last-frame and linear-extrapolation baselines, on a split's clips, through the one
predict path (`VideoFramePredictor`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from avseq.data.video.annotations import Clip, load_annotations
from avseq.errors import AvseqError, BadVideoError
from avseq.inference.frames import VideoFramePredictor, frame_psnr
from avseq.media.side_by_side import write_comparison
from avseq.metrics.frames import BASELINES, FRAME_PSNR_CAP, HorizonScores
from avseq.utils.io import write_report

log = logging.getLogger(__name__)
MODEL = "model"


class _Sequences(Dataset):
    """The clips' frame sequences, read by the predictor (None for an unreadable clip)."""

    def __init__(self, clips: list[Clip], predictor: VideoFramePredictor) -> None:
        self.clips, self.predictor = clips, predictor

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor | None]:
        try:
            return str(self.clips[i].path), self.predictor.read(self.clips[i].path)
        except BadVideoError as err:
            log.warning("skipping %s: %s", self.clips[i].where, err)
            return str(self.clips[i].path), None


def _collate(items: list[tuple[str, torch.Tensor | None]]) -> dict[str, Any]:
    good = [(p, f) for p, f in items if f is not None]
    return {
        "paths": [p for p, _ in good],
        "frames": torch.stack([f for _, f in good]) if good else None,
        "skipped": len(items) - len(good),
    }


def evaluate_frames(
    predictor: VideoFramePredictor,
    annotations: str | Path,
    out_dir: Path,
    video_root: str | Path | None = None,
    workers: int = 2,
    examples: int = 4,
) -> dict[str, Any]:
    """Scores the predictor and the baselines on the clips of `annotations`.

    Writes predictions.jsonl (per clip: each horizon's PSNR for the model and the baselines),
    summary.json and summary.md (per horizon: PSNR and SSIM of each), and for the first
    `examples` clips examples/<clip>.gif and .png: the true and predicted frames side by side.
    """
    clips, _, problems = load_annotations(annotations, None, video_root, on_error="skip")
    for problem in problems:
        log.warning("skipped: %s", problem)
    loader = DataLoader(
        _Sequences(clips, predictor),
        batch_size=predictor.batch_size,
        collate_fn=_collate,
        num_workers=workers,
    )
    k, n = predictor.future, predictor.context
    scores = {name: HorizonScores(k) for name in (MODEL, *BASELINES)}
    rows: list[dict[str, Any]] = []
    skipped = len(problems)
    start = time.perf_counter()
    for batch in loader:
        skipped += batch["skipped"]
        if batch["frames"] is None:
            continue
        observed = batch["frames"][:, :n]
        future = batch["frames"][:, n:].float() / 255.0
        seen = observed.float() / 255.0
        preds = {MODEL: predictor.predict(observed)}
        preds.update({name: baseline(seen, k) for name, baseline in BASELINES.items()})
        for name, pred in preds.items():
            scores[name].update(pred, future)
        for i, path in enumerate(batch["paths"]):
            row: dict[str, Any] = {"video": path}
            for name, pred in preds.items():
                row[f"psnr_{name}"] = frame_psnr(pred[i], future[i])
            rows.append(row)
            if len(rows) <= examples:
                _example(out_dir / "examples", path, batch["frames"][i], preds[MODEL][i])
    if not rows:
        raise AvseqError(f"{annotations}: no video could be evaluated")
    seconds = time.perf_counter() - start
    results = {name: s.compute() for name, s in scores.items()}
    model = results[MODEL]["psnr"]
    summary = {
        "checkpoint": str(predictor.checkpoint),
        "annotations": str(annotations),
        "clips": len(rows),
        "skipped": skipped,
        "size": predictor.size,
        "context_frames": n,
        "future_frames": k,
        "scores": results,
        "beats_baselines": [
            all(model[h] > results[b]["psnr"][h] for b in BASELINES) for h in range(k)
        ],
        "clips_per_second": len(rows) / max(seconds, 1e-9),
        "device": str(predictor.torch_device),
    }
    write_report(out_dir, rows, summary, frames_summary_markdown(summary))
    return summary


def _example(folder: Path, path: str, frames: torch.Tensor, predicted: torch.Tensor) -> None:
    """examples/<clip>.gif and .png: (T, 3, S, S) uint8 true and (k, 3, S, S) predicted."""
    true = frames.permute(0, 2, 3, 1).numpy()
    pred = (predicted.permute(0, 2, 3, 1) * 255.0).round().to(torch.uint8).numpy()
    for suffix in (".gif", ".png"):
        write_comparison(folder / f"{Path(path).stem}{suffix}", true, pred, fps=4.0)


def frames_summary_markdown(summary: dict[str, Any]) -> str:
    scores = summary["scores"]
    names = list(scores)
    lines = [
        f"# Frame prediction: {Path(summary['checkpoint']).name} on "
        f"{Path(summary['annotations']).name}",
        "",
        f"{summary['clips']} clips ({summary['skipped']} skipped): {summary['context_frames']} "
        f"frames seen, the next {summary['future_frames']} predicted, at "
        f"{summary['size']}x{summary['size']}; {summary['clips_per_second']:.1f} clips/s on "
        f"{summary['device']}",
        "",
        "PSNR (dB) over all pixels of a horizon's frames, 10 log10(1 / MSE); SSIM the mean per "
        f"frame; in brackets the mean of per-frame PSNR (each capped at {FRAME_PSNR_CAP:g} dB).",
        "",
        "| horizon | " + " | ".join(f"PSNR {n}" for n in names) + " | "
        + " | ".join(f"SSIM {n}" for n in names) + " | beats both |",
        "|---" * (2 * len(names) + 2) + "|",
    ]  # fmt: skip
    for h in range(summary["future_frames"]):
        psnr = [f"{s['psnr'][h]:.2f} ({s['psnr_frame_mean'][h]:.2f})" for s in scores.values()]
        ssim = [f"{s['ssim'][h]:.4f}" for s in scores.values()]
        best = "yes" if summary["beats_baselines"][h] else "no"
        lines.append(f"| {h + 1} | " + " | ".join(psnr + ssim) + f" | {best} |")
    return "\n".join(lines) + "\n"
