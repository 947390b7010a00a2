"""Video models with a trained checkpoint: THE predict paths for actions and captions, used by
`avseq classify`, `avseq caption`, `avseq evaluate` and the benchmarks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avseq.decoding.beam import Hypothesis, decoder_beam_search, greedy_search
from avseq.errors import AvseqError
from avseq.media.clips import clip_views, collate_video
from avseq.media.video import iter_frames, read_clip, sample_indices, video_info
from avseq.metrics.plotting import plot_caption_attention
from avseq.models.checkpoint import load_video_model
from avseq.models.tasks.video import view_average
from avseq.utils.device import pick_device

log = logging.getLogger(__name__)


def per_file(
    paths: Iterable[str | Path], run: Callable[[str], dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    """(path, run(path), None) per file in order, or (path, None, error) for a bad file."""
    for path in map(str, paths):
        try:
            yield path, run(path), None
        except AvseqError as err:
            yield path, None, str(err)


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
        if self.batch_size < 1:
            raise AvseqError(f"--batch-size {self.batch_size}: must be at least 1")
        self.torch_device = pick_device(self.device)
        self.model, self.meta = load_video_model(self.checkpoint, self.torch_device)
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
        frames = batch["frames"].to(self.torch_device)
        logits, weights = self.model(frames, batch["lengths"].to(self.torch_device))
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
        return per_file(paths, lambda path: self.classify_file(path, top_k))


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
        frames = batch["frames"].to(self.torch_device)
        lengths = batch["lengths"].to(self.torch_device)
        states = self.model.encoder(frames, lengths)
        mask, concepts = self.model.caption_context(states, lengths)
        decoder = self.model.decoder
        if self.beam == 1:
            hyps = [[h] for h in greedy_search(decoder, states, mask, self.max_words, concepts)]
        else:
            hyps = decoder_beam_search(
                decoder, states, mask, self.beam, self.max_words, self.length_alpha, concepts
            )
        self.compute_seconds += time.perf_counter() - start
        return hyps

    def text(self, hyp: Hypothesis) -> str:
        return self.vocab.decode(hyp.tokens)

    def caption_file(
        self, path: str | Path, plot: Path | None = None, attention: bool = False
    ) -> dict[str, Any]:
        """One caption for a video (its frames sampled over the whole video); with `plot`, the
        frames-by-words attention map is drawn to that PNG; with `attention`, it is returned as
        data: {"words", "weights" (words + 1 rows, the last for end of sentence) x sampled
        frames, "frame_times" (seconds)}."""
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
        index = sample_indices(len(frames), self.num_frames, 0.5)
        # a long file is read as an even subset of its frames: a kept frame lasts longer
        step = info.duration / len(frames) if info.duration > 0 else 1 / max(info.fps, 1e-6)
        times = [i * step for i in index]
        if plot is not None:
            thumbs = read_clip(path, max(self.size, 128))[index]
            plot_caption_attention(thumbs, self.text(best).split(), best.attention, times, plot)
            result["attention_plot"] = str(plot)
        if attention and best.attention is not None:
            result["attention"] = {
                "words": self.text(best).split(),
                "weights": [[round(w, 4) for w in row] for row in best.attention.float().tolist()],
                "frame_times": [round(float(t), 3) for t in times],
            }
        return result

    def caption_files(
        self, paths: Sequence[str | Path], plots: Sequence[Path] | None = None
    ) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """Yields (path, result, error) per file in order; a bad file yields its error.
        `plots`: one attention-map PNG per path."""
        plot_for = dict(zip(map(str, paths), plots, strict=True)) if plots else {}
        return per_file(paths, lambda path: self.caption_file(path, plot_for.get(path)))
