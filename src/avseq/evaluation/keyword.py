"""Keyword evaluation: top-1/top-5 accuracy, per-class accuracy, the confusion matrix and the
most confused pairs on a labelled manifest, through the one predict path."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from avseq.data.speech.keywords import check_labelled, keyword_label
from avseq.data.speech.manifest import Utterance, read_manifest
from avseq.errors import AvseqError
from avseq.inference.keyword import KeywordSpotter
from avseq.media.audio import load_audio
from avseq.metrics.classification import ClassificationReport, plot_confusion
from avseq.utils.io import write_report

log = logging.getLogger(__name__)


def labelled_utterances(
    manifest: str | Path, classes: list[str]
) -> tuple[list[tuple[Utterance, int]], list[str]]:
    """(utterance, class index) for each line whose label is one of `classes`, and one
    problem message per line left out (unparsable, unlabelled, unknown label)."""
    utts, problems = read_manifest(manifest, on_error="skip", require_text=False)
    check_labelled(manifest, utts)
    index = {name: i for i, name in enumerate(classes)}
    good = []
    for utt in utts:
        label = keyword_label(utt)
        if label is None:
            problems.append(f'{utt.where}: no "label" field')
        elif label not in index:
            problems.append(f"{utt.where}: label {label!r} is not one of the model's classes")
        else:
            good.append((utt, index[label]))
    return good, problems


def confused_pairs(matrix: torch.Tensor, classes: list[str], n: int = 10) -> list[dict]:
    """The `n` most frequent (true, predicted) confusions, most frequent first."""
    off = matrix.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().topk(min(n, off.numel()))
    k = len(classes)
    return [
        {"label": classes[i // k], "prediction": classes[i % k], "count": int(c)}
        for c, i in zip(counts.tolist(), flat.tolist(), strict=True)
        if c > 0
    ]


def evaluate_keywords(
    spotter: KeywordSpotter, manifest: str | Path, out_dir: Path
) -> dict[str, Any]:
    """Scores a labelled manifest. Writes predictions.jsonl (per utterance: label, prediction,
    top-5), confusion_matrix.png, summary.json (with the confusion matrix's counts, rows =
    true class) and summary.md."""
    classes = spotter.classes
    items, problems = labelled_utterances(manifest, classes)
    for problem in problems:
        log.warning("skipped: %s", problem)
    report = ClassificationReport(classes)
    rows: list[dict[str, Any]] = []
    skipped = len(problems)
    step = spotter.batch_size * 4
    for b in range(0, len(items), step):
        chunk, waves = [], []
        for utt, label in items[b : b + step]:
            try:
                waves.append(load_audio(utt.audio_filepath, spotter.sample_rate))
                chunk.append((utt, label))
            except AvseqError as err:
                log.warning("skipped: %s: %s", utt.where, err)
                skipped += 1
        for (utt, label), p in zip(chunk, spotter.predict_waves(waves), strict=True):
            report.add(p, label)
            predicted = int(p.argmax())
            rows.append(
                {
                    "audio_filepath": str(utt.audio_filepath),
                    "label": classes[label],
                    "prediction": classes[predicted],
                    "correct": predicted == label,
                    "top5": spotter.top(p, 5),
                }
            )
    if not rows:
        raise AvseqError(f"{manifest}: no utterance could be evaluated")
    matrix = report.confusion()
    scores = report.summary()
    summary = {
        "checkpoint": str(spotter.checkpoint),
        "manifest": str(manifest),
        "utterances": len(rows),
        "skipped": skipped,
        "accuracy": scores["top1"],
        "top5": scores["top5"],
        "per_class": scores["per_class"],
        "most_confused": confused_pairs(matrix, classes),
        "confusion_matrix": {"classes": classes, "counts": matrix.tolist()},
        "real_time_factor": spotter.compute_seconds / max(spotter.audio_seconds, 1e-9),
        "device": str(spotter.torch_device),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(matrix, classes, out_dir / "confusion_matrix.png")
    write_report(out_dir, rows, summary, keyword_summary_markdown(summary))
    return summary


def keyword_summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation: {Path(summary['checkpoint']).name} on {Path(summary['manifest']).name}",
        "",
        f"{summary['utterances']} utterances ({summary['skipped']} skipped), "
        f"real-time factor {summary['real_time_factor']:.4f} on {summary['device']}",
        "",
        f"- accuracy (top-1): {100 * summary['accuracy']:.2f}%",
        f"- top-5 accuracy: {100 * summary['top5']:.2f}%",
        "",
        "| class | accuracy | utterances |",
        "|---|---|---|",
    ]
    for name, row in summary["per_class"].items():
        acc = "—" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}%"
        lines.append(f"| {name} | {acc} | {row['clips']} |")
    if summary["most_confused"]:
        lines += ["", "Most confused (true → predicted):", ""]
        for pair in summary["most_confused"]:
            lines.append(f"- {pair['label']} → {pair['prediction']}: {pair['count']}")
    return "\n".join(lines) + "\n"
