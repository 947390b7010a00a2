"""Video captioning and its evaluation: one decode path for `avseq caption` and `avseq evaluate`
on a captioning checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from avseq.classify import VideoPredictor
from avseq.data.annotations import Clip, load_annotations
from avseq.data.captions import load_captions
from avseq.data.video import read_clip, sample_indices, video_info
from avseq.data.video_dataset import VideoClipDataset, collate_video
from avseq.errors import AvseqError
from avseq.inference import write_report
from avseq.metrics.captioning import SLOTS, caption_scores
from avseq.models.components.attention_decoder import Hypothesis
from avseq.plotting import plt, save_figure

log = logging.getLogger(__name__)


@dataclass
class VideoCaptioner(VideoPredictor):
    """Writes a sentence per video with a trained captioning checkpoint.

    Args:
        beam: beam width (1: greedy decoding).
        max_words: longest caption written.
        length_alpha: GNMT length penalty exponent for ranking beams (0: none).
    """

    beam: int = 5
    max_words: int = 20
    length_alpha: float = 0.0

    def __post_init__(self) -> None:
        if self.beam < 1 or self.max_words < 1:
            raise AvseqError(
                f"--beam and --max-words must be at least 1, got {self.beam}, {self.max_words}"
            )
        super().__post_init__()
        self.vocab = self.meta.get("vocab")
        if self.vocab is None or self.model.decoder is None:
            raise AvseqError(
                f"{self.checkpoint}: this model has no caption decoder (it was trained for "
                "actions only); use 'avseq classify', or train with experiment=video"
            )

    @torch.inference_mode()
    def decode_batch(self, batch: dict[str, Any]) -> list[list[Hypothesis]]:
        """A `collate_video` batch (one view) -> hypotheses per clip, best first."""
        start = time.perf_counter()
        frames = batch["frames"].to(self._device)
        lengths = batch["lengths"].to(self._device)
        states = self.model.encoder(frames, lengths)
        mask, concepts = self.model.caption_context(states, lengths)
        decoder = self.model.decoder
        if self.beam == 1:
            hyps = [[h] for h in decoder.greedy(states, mask, self.max_words, concepts)]
        else:
            hyps = decoder.beam_search(
                states, mask, self.beam, self.max_words, self.length_alpha, concepts
            )
        self.compute_seconds += time.perf_counter() - start
        return hyps

    def text(self, hyp: Hypothesis) -> str:
        return self.vocab.decode(hyp.tokens)

    def caption_file(self, path: str | Path, plot_dir: Path | None = None) -> dict[str, Any]:
        """One caption for a video (its frames sampled over the whole video)."""
        info = video_info(path)
        self.video_seconds += info.duration
        frames = read_clip(path, self.size)
        batch = next(self.batches([frames]))
        hyps = self.decode_batch(batch)[0]
        best = hyps[0]
        result: dict[str, Any] = {
            "video": str(path),
            "caption": self.text(best),
            "score": round(best.score, 4),
            "duration": round(info.duration, 3),
        }
        if len(hyps) > 1:
            result["alternatives"] = [
                {"caption": self.text(h), "score": round(h.score, 4)} for h in hyps[1:]
            ]
        if plot_dir is not None:
            index = sample_indices(len(frames), self.num_frames, 0.5)
            thumbs = read_clip(path, max(self.size, 128))[index]
            times = [i / max(info.fps, 1e-6) for i in index]
            out = plot_dir / f"{Path(path).stem}.attention.png"
            plot_attention(thumbs, self.text(best).split(), best.attention, times, out)
            result["attention_plot"] = str(out)
        return result

    def caption_files(
        self, paths: Iterable[str | Path], plot_dir: Path | None = None
    ) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """Yields (path, result, error) per file in order; a bad file yields its error."""
        for path in map(str, paths):
            try:
                yield path, self.caption_file(path, plot_dir), None
            except AvseqError as err:
                yield path, None, str(err)


def plot_attention(
    frames: np.ndarray,
    words: list[str],
    attention: torch.Tensor,
    times: list[float],
    path: Path,
) -> None:
    """Saves the frames as thumbnails above a words x frames map of the decoder's attention
    (one row per generated word, and one for `<eos>`), atomically."""
    rows = [*words, "<eos>"][: attention.size(0)]
    weights = attention[: len(rows), : len(frames)].float().numpy()
    t = len(frames)
    width = max(6.0, 0.75 * t + 1.5)
    height = 0.9 + 0.32 * len(rows) + width / t
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(
        2,
        t + 1,
        height_ratios=[width / t, 0.32 * len(rows) + 0.5],
        width_ratios=[1.0] * t + [0.12],
        hspace=0.05,
        wspace=0.04,
    )
    for i in range(t):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[i])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{times[i]:.1f}s", fontsize=7)
    ax = fig.add_subplot(grid[1, :t])
    image = ax.imshow(weights, aspect="auto", cmap="viridis", vmin=0, vmax=max(1e-6, weights.max()))
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_xticks(range(t), [str(i + 1) for i in range(t)], fontsize=7)
    ax.set_xlabel("sampled frame (the thumbnails above)")
    fig.colorbar(image, cax=fig.add_subplot(grid[1, t]), label="attention")
    fig.suptitle(" ".join(words) or "(empty caption)", fontsize=10)
    save_figure(fig, path)


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
        "device": str(captioner._device),
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
