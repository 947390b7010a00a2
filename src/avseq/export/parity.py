"""Parity of an export with PyTorch on a checkpoint's own test split: the largest absolute
difference of the outputs (log-probabilities, class probabilities) over valid frames, and how
many greedy transcripts, labels and captions are identical. The PyTorch side is THE predict path
of each task (`Transcriber`, `ActionClassifier`, `VideoCaptioner`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from avseq.data.speech.manifest import read_manifest
from avseq.data.video.annotations import load_annotations
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AvseqError
from avseq.evaluation.caption import captioned_clips
from avseq.export.runtime import ExportedRecognizer, ExportedVideoModel
from avseq.inference.speech import Transcriber
from avseq.inference.video import ActionClassifier, VideoCaptioner
from avseq.media.audio import load_audio
from avseq.media.clips import collate_video
from avseq.utils.masks import frame_mask

log = logging.getLogger(__name__)
EXAMPLES = 3  # differing items listed in the report


def _masked_diff(a: torch.Tensor, b: torch.Tensor, frames: torch.Tensor) -> float:
    mask = frame_mask(frames, a.size(1))[..., None]
    return float(((a.float() - b.float()).abs() * mask).max()) if a.numel() else 0.0


def speech_parity(checkpoint: str | Path, folder: str | Path, limit: int, batch_size: int):
    """Exported recognizer vs PyTorch on the first `limit` items of the checkpoint's test
    manifest (greedy decoding); None when the checkpoint records no readable test split."""
    transcriber = Transcriber(checkpoint, "cpu", batch_size)
    manifest = transcriber.meta.get("test_manifest")
    if not manifest or not Path(manifest).is_file():
        return None
    exported = ExportedRecognizer(folder)
    utts, _ = read_manifest(manifest, transcriber.tokenizer, on_error="skip")
    report: dict[str, Any] = {"split": str(manifest), "items": 0, "identical": 0}
    max_diff, differing, seconds = 0.0, [], {"pytorch": 0.0, "export": 0.0}
    for b in range(0, min(limit, len(utts)), batch_size):
        chunk = utts[b : min(b + batch_size, limit)]
        waves = [load_audio(u.audio_filepath, transcriber.sample_rate) for u in chunk]
        start = time.perf_counter()
        texts = transcriber.transcribe_waves(waves)
        seconds["pytorch"] += time.perf_counter() - start
        start = time.perf_counter()
        log_probs, frames = exported.log_probs(waves)
        got = exported.transcribe_waves(waves)
        seconds["export"] += time.perf_counter() - start
        with torch.inference_mode():
            lengths = torch.tensor([w.numel() for w in waves])
            padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
            padded = torch.nn.functional.pad(
                padded, (0, max(0, exported.min_samples - padded.size(1)))
            )
            logits, ref_frames = transcriber.model(padded, lengths)
        if not torch.equal(frames.long(), ref_frames.long()):
            raise AvseqError(f"{folder}: the export's frame counts differ from PyTorch's")
        max_diff = max(max_diff, _masked_diff(log_probs, logits.log_softmax(-1), frames))
        for utt, want, have in zip(chunk, texts, got, strict=True):
            report["items"] += 1
            report["identical"] += want == have
            if want != have and len(differing) < EXAMPLES:
                differing.append({"item": str(utt.audio_filepath), "pytorch": want, "export": have})
    report.update(max_abs_diff=max_diff, differing=differing, seconds=seconds)
    return report


def _video_clips(meta: dict[str, Any], classes: list[str], captions: bool):
    clip = meta.get("clip") or {}
    annotations = clip.get("test_annotations")
    if annotations and Path(annotations).is_file():
        clips, _, _ = load_annotations(annotations, classes or None, clip.get("video_root"), "skip")
        return clips, annotations
    if captions and clip.get("captions") and Path(clip["captions"]).is_file():
        return captioned_clips(clip["captions"], None, "test", clip.get("video_root"))[0], clip[
            "captions"
        ]
    return None, None


def video_parity(
    checkpoint: str | Path, folder: str | Path, limit: int, batch_size: int, max_words: int = 20
):
    """Exported video model vs PyTorch on the first `limit` test clips: class probabilities
    and labels, greedy captions; None when the checkpoint records no readable test split."""
    exported = ExportedVideoModel(folder)
    has_actions, has_captions = bool(exported.classes), exported.vocab is not None
    classifier = ActionClassifier(checkpoint, "cpu", batch_size) if has_actions else None
    captioner = (
        VideoCaptioner(checkpoint, "cpu", batch_size, beam=1, max_words=max_words)
        if has_captions
        else None
    )
    predictor = classifier or captioner
    clips, source = _video_clips(predictor.meta, exported.classes, has_captions)
    if not clips:
        return None
    dataset = VideoClipDataset(clips[:limit], predictor.size, predictor.num_frames, skip_bad=True)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_video)
    report: dict[str, Any] = {"split": str(source), "items": 0}
    labels = {"identical": 0, "max_abs_diff": 0.0, "differing": []}
    words = {"identical": 0, "differing": []}
    seconds = {"pytorch": 0.0, "export": 0.0}
    for batch in loader:
        if "frames" not in batch:
            continue
        report["items"] += len(batch["paths"])
        if classifier is not None:
            start = time.perf_counter()
            want, _ = classifier.predict_batch(batch)
            seconds["pytorch"] += time.perf_counter() - start
            start = time.perf_counter()
            have, _ = exported.predict_batch(batch)
            seconds["export"] += time.perf_counter() - start
            diff = float((want - have).abs().max())
            labels["max_abs_diff"] = max(labels["max_abs_diff"], diff)
            for path, a, b in zip(batch["paths"], want.argmax(-1), have.argmax(-1), strict=True):
                labels["identical"] += int(a) == int(b)
                if int(a) != int(b) and len(labels["differing"]) < EXAMPLES:
                    names = exported.classes
                    labels["differing"].append(
                        {"item": path, "pytorch": names[a], "export": names[b]}
                    )
        if captioner is not None:
            want_caps = [captioner.text(h[0]) for h in captioner.decode_batch(batch)]
            have_caps = [exported.vocab.decode(h.tokens) for h in exported.caption_batch(batch)]
            for path, a, b in zip(batch["paths"], want_caps, have_caps, strict=True):
                words["identical"] += a == b
                if a != b and len(words["differing"]) < EXAMPLES:
                    words["differing"].append({"item": path, "pytorch": a, "export": b})
    if has_actions:
        report["labels"] = labels
    if has_captions:
        report["captions"] = words
    report["seconds"] = seconds
    return report


def parity_lines(report: dict[str, Any]) -> list[str]:
    """The report as lines for a person."""
    n = report["items"]
    lines = [f"parity on {n} items of {report['split']}:"]
    if "identical" in report:
        lines.append(
            f"  transcripts identical {report['identical']}/{n}, max |log-prob diff| "
            f"{report['max_abs_diff']:.2e}"
        )
    if "labels" in report:
        lab = report["labels"]
        lines.append(
            f"  labels identical {lab['identical']}/{n}, max |prob diff| {lab['max_abs_diff']:.2e}"
        )
    if "captions" in report:
        lines.append(f"  greedy captions identical {report['captions']['identical']}/{n}")
    for part in (report, report.get("labels", {}), report.get("captions", {})):
        for d in part.get("differing", []):
            lines.append(f"  differs: {d['item']}: {d['pytorch']!r} vs {d['export']!r}")
    return lines


def parity_ok(report: dict[str, Any], tolerance: float = 1e-3) -> bool:
    n = report["items"]
    parts = [report] if "identical" in report else []
    parts += [report[k] for k in ("labels", "captions") if k in report]
    same = all(p["identical"] == n for p in parts)
    close = all(p.get("max_abs_diff", 0.0) < tolerance for p in parts)
    return same and close
