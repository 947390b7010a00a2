"""Action evaluation: top-1/top-5, per-class accuracy, a confusion matrix and the
temporal-order check, through the one predict path."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from avseq.data.video.annotations import load_annotations
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AvseqError
from avseq.inference.video import ActionClassifier
from avseq.media.clips import collate_video
from avseq.metrics.classification import ClassificationReport, plot_confusion
from avseq.text.video_language import REVERSED_ACTION
from avseq.utils.io import write_report

log = logging.getLogger(__name__)


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
        "device": str(classifier.torch_device),
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
