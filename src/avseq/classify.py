"""Action classification and its evaluation: one predict path for `avseq classify` and
`avseq evaluate` on an action checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from avseq.checkpoint import load_video_model
from avseq.data.annotations import load_annotations
from avseq.data.synth_video import REVERSED_ACTION
from avseq.data.video import VIDEO_EXTENSIONS, iter_frames, read_clip, video_info
from avseq.data.video_dataset import VideoClipDataset, clip_views, collate_video
from avseq.errors import AvseqError
from avseq.inference import pick_device, write_report
from avseq.metrics.classification import ClassificationReport, plot_confusion
from avseq.models.tasks.video import view_average

log = logging.getLogger(__name__)


@dataclass
class VideoPredictor:
    """What `avseq classify`, `avseq caption` and video evaluation share: a trained video
    checkpoint on a device, and the checkpoint's clip sampling.

    Args:
        checkpoint: a video .ckpt written by `avseq train`.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        batch_size: clips (or windows) run through the model together.
    """

    checkpoint: str | Path
    device: str = "auto"
    batch_size: int = 16
    video_seconds: float = field(default=0.0, init=False)
    compute_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._device = pick_device(self.device)
        self.model, self.meta = load_video_model(self.checkpoint, self._device)
        self.classes: list[str] = list(self.meta["classes"])
        clip = self.meta.get("clip") or {}
        self.size = int(clip.get("size", 64))
        self.num_frames = int(clip.get("num_frames", 16))
        self.clip_seconds = float(clip.get("seconds") or 2.0)

    def batches(self, clips: list[np.ndarray], views: int = 1) -> Iterator[dict[str, Any]]:
        """(T_i, size, size, 3) uint8 frame arrays -> `collate_video` batches of sampled
        frames (`views` temporal views per clip)."""
        for b in range(0, len(clips), self.batch_size):
            items = [
                {"frames": clip_views(c, self.num_frames, views, False), "label": 0, "path": ""}
                for c in clips[b : b + self.batch_size]
            ]
            yield collate_video(items)


@dataclass
class ActionClassifier(VideoPredictor):
    """Labels videos with a trained action checkpoint (see `VideoPredictor` for the rest).

    Args:
        views: temporal views averaged per clip (multi-clip testing); 1 = one view.
        window_factor: a video longer than this many training-clip lengths is labelled
            window by window (a timeline) rather than as one clip.
    """

    views: int = 1
    window_factor: float = 1.5

    def __post_init__(self) -> None:
        if self.views < 1:
            raise AvseqError(f"--views must be at least 1, got {self.views}")
        super().__post_init__()
        if not self.classes:
            raise AvseqError(
                f"{self.checkpoint}: this model has no action head (it was trained to "
                "caption); use 'avseq caption'"
            )

    @torch.inference_mode()
    def predict_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """A `collate_video` batch -> (B, K) probabilities (views averaged), (B*views, T)
        attention weights."""
        start = time.perf_counter()
        frames = batch["frames"].to(self._device)
        logits, weights = self.model(frames, batch["lengths"].to(self._device))
        probs = view_average(logits, batch["views"]).cpu()
        self.compute_seconds += time.perf_counter() - start
        return probs, weights.float().cpu()

    def predict_frames(self, clips: list[np.ndarray]) -> torch.Tensor:
        """(T_i, size, size, 3) uint8 frame arrays -> (N, K) probabilities."""
        out = [self.predict_batch(batch)[0] for batch in self.batches(clips, self.views)]
        return torch.cat(out) if out else torch.empty(0, len(self.classes))

    def top(self, probs: torch.Tensor, k: int) -> list[dict[str, Any]]:
        scores, idx = probs.topk(min(k, probs.numel()))
        return [
            {"label": self.classes[i], "score": round(float(s), 4)}
            for s, i in zip(scores.tolist(), idx.tolist(), strict=True)
        ]

    def windows(self, path: str | Path) -> Iterator[tuple[float, float, np.ndarray]]:
        """(start, end, frames) windows one training-clip long, half-overlapping; memory stays
        bounded for hours-long files."""
        length, stride = self.clip_seconds, self.clip_seconds / 2
        every = length / self.num_frames / 2  # keep twice the frames a window samples
        buf: list[tuple[float, np.ndarray]] = []
        start, last_end, t = 0.0, -1.0, 0.0
        for t, rgb in iter_frames(path, self.size, every):
            while t >= start + length:
                inside = [f for s, f in buf if s >= start]
                if inside:
                    yield start, start + length, np.stack(inside)
                    last_end = start + length
                start += stride
                buf = [(s, f) for s, f in buf if s >= start]
            buf.append((t, rgb))
        if buf and t > last_end:  # the tail: a last window ending at the video's end
            yield max(0.0, buf[0][0]), t, np.stack([f for _, f in buf])

    def classify_file(self, path: str | Path, top_k: int = 5) -> dict[str, Any]:
        """Top-k labels of one video; a long video also gets a label per window."""
        info = video_info(path)
        self.video_seconds += info.duration
        if info.duration <= self.window_factor * self.clip_seconds:
            probs = self.predict_frames([read_clip(path, self.size)])[0]
            return {
                "video": str(path),
                "duration": round(info.duration, 3),
                "labels": self.top(probs, top_k),
            }
        spans, pending, timeline, total = [], [], [], None

        def flush() -> None:
            nonlocal total
            probs = self.predict_frames(pending)
            for (s, e), p in zip(spans, probs, strict=True):
                best = self.top(p, 1)[0]
                timeline.append({"start": round(s, 3), "end": round(e, 3), **best})
            total = probs.sum(0) if total is None else total + probs.sum(0)
            spans.clear()
            pending.clear()

        for s, e, frames in self.windows(path):
            spans.append((s, e))
            pending.append(frames)
            if len(pending) == self.batch_size:
                flush()
        if pending:
            flush()
        probs = total / len(timeline)
        return {
            "video": str(path),
            "duration": round(info.duration, 3),
            "labels": self.top(probs, top_k),
            "windows": timeline,
        }

    def classify_files(
        self, paths: Iterable[str | Path], top_k: int = 5
    ) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """Yields (path, result, error) per file in order; a bad file yields its error."""
        for path in map(str, paths):
            try:
                yield path, self.classify_file(path, top_k), None
            except AvseqError as err:
                yield path, None, str(err)


def expand_videos(inputs: Iterable[str]) -> list[str]:
    """Video paths from files and folders (searched recursively for video extensions)."""
    paths: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(str(v) for v in p.rglob("*") if v.suffix.lower() in VIDEO_EXTENSIONS)
        else:
            paths.append(item)
    return paths


def _run(
    classifier: ActionClassifier, dataset: VideoClipDataset, workers: int
) -> Iterator[tuple[dict[str, Any], torch.Tensor, torch.Tensor]]:
    loader = DataLoader(
        dataset, batch_size=classifier.batch_size, collate_fn=collate_video, num_workers=workers
    )
    for batch in loader:
        if "frames" in batch:
            probs, weights = classifier.predict_batch(batch)
            yield batch, probs, weights


def evaluate_action(
    classifier: ActionClassifier,
    annotations: str | Path,
    out_dir: Path,
    video_root: str | Path | None = None,
    workers: int = 2,
) -> dict[str, Any]:
    """Top-1/top-5, per-class accuracy, a confusion matrix and the temporal-order check.

    Writes predictions.jsonl (per clip), confusion_matrix.png, summary.json and summary.md.
    The order check plays clips of order-dependent classes backwards (move_left, grow,
    appear, rotate_clockwise, ... and their counterparts) and counts how often the model
    predicts the reversed action.
    """
    classes = classifier.classes
    clips, _, problems = load_annotations(annotations, classes, video_root, on_error="skip")
    for problem in problems:
        log.warning("skipped: %s", problem)
    start = time.perf_counter()
    dataset = VideoClipDataset(
        clips, classifier.size, classifier.num_frames, views=classifier.views, skip_bad=True
    )
    report = ClassificationReport(classes)
    rows: list[dict[str, Any]] = []
    by_path: dict[str, dict[str, Any]] = {}
    for batch, probs, weights in _run(classifier, dataset, workers):
        first_view = weights.view(len(batch["paths"]), batch["views"], -1)[:, 0]
        for path, label, p, w, n in zip(
            batch["paths"],
            batch["labels"].tolist(),
            probs,
            first_view,
            batch["lengths"][:: batch["views"]].tolist(),
            strict=True,
        ):
            report.add(p, label)
            row = {
                "video": path,
                "label": classes[label],
                "prediction": classes[int(p.argmax())],
                "correct": int(p.argmax()) == label,
                "top5": classifier.top(p, 5),
                "attention": [round(float(a), 4) for a in w[:n]],
            }
            rows.append(row)
            by_path[path] = row
    if not rows:
        raise AvseqError(f"{annotations}: no video could be evaluated")
    skipped = len(problems) + len(clips) - len(rows)
    # the temporal-order check: clips of order-dependent classes, played backwards
    reversible = {
        classes.index(a): classes.index(b)
        for a, b in REVERSED_ACTION.items()
        if a in classes and b in classes
    }
    order = None
    backwards = [c for c in clips if c.label in reversible and str(c.path) in by_path]
    if backwards:
        rev_set = VideoClipDataset(
            backwards, classifier.size, classifier.num_frames, views=1, reverse=True
        )
        hits = 0
        total = 0
        for batch, probs, _ in _run(classifier, rev_set, workers):
            for path, label, p in zip(batch["paths"], batch["labels"].tolist(), probs, strict=True):
                predicted = int(p.argmax())
                by_path[path]["reversed_prediction"] = classes[predicted]
                hits += predicted == reversible[label]
                total += 1
        order = {"clips": total, "reversed_action_rate": hits / max(1, total)}
    seconds = time.perf_counter() - start
    summary = {
        "checkpoint": str(classifier.checkpoint),
        "annotations": str(annotations),
        "clips": len(rows),
        "skipped": skipped,
        "views": classifier.views,
        **report.summary(),
        "temporal_order_check": order,
        "clips_per_second": len(rows) / max(seconds, 1e-9),
        "device": str(classifier._device),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(report.confusion(), classes, out_dir / "confusion_matrix.png")
    write_report(out_dir, rows, summary, action_summary_markdown(summary))
    return summary


def action_summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation: {Path(summary['checkpoint']).name} on {Path(summary['annotations']).name}",
        "",
        f"{summary['clips']} clips ({summary['skipped']} skipped), {summary['views']} view(s) "
        f"per clip, {summary['clips_per_second']:.1f} clips/s on {summary['device']}",
        "",
        f"- top-1 accuracy: {100 * summary['top1']:.2f}%",
        f"- top-5 accuracy: {100 * summary['top5']:.2f}%",
    ]
    order = summary.get("temporal_order_check")
    if order:
        lines.append(
            f"- clips played backwards predicted as the reversed action: "
            f"{100 * order['reversed_action_rate']:.2f}% of {order['clips']} order-dependent clips"
        )
    lines += ["", "| class | accuracy | clips |", "|---|---|---|"]
    for name, row in summary["per_class"].items():
        acc = "—" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}%"
        lines.append(f"| {name} | {acc} | {row['clips']} |")
    return "\n".join(lines) + "\n"
