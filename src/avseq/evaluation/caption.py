"""Caption evaluation: BLEU, ROUGE-L, CIDEr-D and slot accuracy, through the one decode path."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from avseq.data.video.annotations import Clip, load_annotations
from avseq.data.video.captions import load_captions
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AvseqError
from avseq.inference.video import VideoCaptioner
from avseq.media.clips import collate_video
from avseq.metrics.captioning import SLOTS, caption_scores
from avseq.utils.io import write_report


def captioned_clips(
    captions: str | Path,
    annotations: str | Path | None = None,
    split: str = "test",
    video_root: str | Path | None = None,
) -> tuple[list[Clip], list[str]]:
    """Clips with reference captions: an annotation file's videos joined by path to the
    captions file, or the captions file's videos of `split`. Returns (clips, problems)."""
    videos, problems = load_captions(captions, video_root, on_error="skip")
    if annotations is None:
        clips = [v.clip() for v in videos.values() if v.split == split]
        if not clips:
            raise AvseqError(f"{captions}: no captioned videos in the split {split!r}")
        return clips, problems
    listed, _, bad = load_annotations(annotations, None, video_root, on_error="skip")
    by_path = {v.path.resolve(): v.captions for v in videos.values()}
    clips = []
    for clip in listed:
        refs = by_path.get(clip.path.resolve())
        if refs:
            clips.append(replace(clip, captions=refs))
        else:
            bad.append(f"{clip.where}: {clip.path.name} has no captions in {captions}")
    return clips, problems + bad


def evaluate_captions(
    captioner: VideoCaptioner,
    clips: list[Clip],
    out_dir: Path,
    source: str,
    workers: int = 2,
    skipped: int = 0,
) -> dict[str, Any]:
    """BLEU-1..4, ROUGE-L, CIDEr-D and slot accuracy of the captions of `clips`.

    Writes caption_predictions.jsonl (hypothesis and references per video) and
    caption_summary.json / caption_summary.md to `out_dir`.
    """
    start = time.perf_counter()
    dataset = VideoClipDataset(clips, captioner.size, captioner.num_frames, skip_bad=True)
    loader = DataLoader(
        dataset, batch_size=captioner.batch_size, collate_fn=collate_video, num_workers=workers
    )
    refs_of = {str(c.path): list(c.captions) for c in clips}
    rows: list[dict[str, Any]] = []
    for batch in loader:
        skipped += batch["skipped"]
        if "frames" not in batch:
            continue
        for path, hyps in zip(batch["paths"], captioner.decode_batch(batch), strict=True):
            rows.append(
                {
                    "video": path,
                    "caption": captioner.text(hyps[0]),
                    "score": round(hyps[0].score, 4),
                    "references": refs_of[path],
                }
            )
    if not rows:
        raise AvseqError(f"{source}: no video could be captioned")
    seconds = time.perf_counter() - start
    scores = caption_scores([r["caption"] for r in rows], [r["references"] for r in rows])
    summary = {
        "checkpoint": str(captioner.checkpoint),
        "source": source,
        "videos": len(rows),
        "skipped": skipped,
        "beam": captioner.beam,
        **scores,
        "distinct_captions": len({r["caption"] for r in rows}),
        "videos_per_second": len(rows) / max(seconds, 1e-9),
        "device": str(captioner.torch_device),
    }
    write_report(out_dir, rows, summary, caption_summary_markdown(summary), prefix="caption_")
    return summary


def caption_summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Captions: {Path(summary['checkpoint']).name} on {Path(summary['source']).name}",
        "",
        f"{summary['videos']} videos ({summary['skipped']} skipped), beam {summary['beam']}, "
        f"{summary['videos_per_second']:.1f} videos/s on {summary['device']}",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key, name in (
        ("bleu1", "BLEU-1"),
        ("bleu2", "BLEU-2"),
        ("bleu3", "BLEU-3"),
        ("bleu4", "BLEU-4"),
        ("rouge_l", "ROUGE-L"),
        ("cider_d", "CIDEr-D"),
    ):
        lines.append(f"| {name} | {summary[key]:.4f} |")
    if summary.get("slot_accuracy") is not None:
        lines.append(
            f"| slot accuracy (colour, shape, action) | {100 * summary['slot_accuracy']:.2f}% "
            f"of {summary['slot_videos']} |"
        )
        lines.append(
            "| colour / shape / action right | "
            + " / ".join(f"{100 * summary[f'slot_{k}']:.1f}%" for k in SLOTS)
            + " |"
        )
    lines.append(f"| distinct captions | {summary['distinct_captions']} |")
    return "\n".join(lines) + "\n"
