"""onnxruntime against PyTorch on the CPU: the same decoded test files through each checkpoint's
exported graphs and through the PyTorch predict path, alternated, best of `--repeats`; the same
thread count on both sides. Files are decoded once up front, so only the models are timed."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from avseq.data.speech.manifest import read_manifest
from avseq.data.video.annotations import load_annotations
from avseq.data.video.dataset import VideoClipDataset
from avseq.export.runtime import ExportedRecognizer, ExportedVideoModel
from avseq.export.writer import export_checkpoint
from avseq.inference.speech import Transcriber
from avseq.inference.video import ActionClassifier, VideoCaptioner
from avseq.media.audio import load_audio
from avseq.media.clips import collate_video


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def race(name: str, unit: str, amount: float, torch_run, export_run, repeats: int) -> None:
    """Prints both speeds and their ratio; runs alternate so warm-up favours neither."""
    torch_run(), export_run()  # warm-up
    t = e = float("inf")
    for _ in range(repeats):
        t = min(t, best_seconds(torch_run, 1))
        e = min(e, best_seconds(export_run, 1))
    print(
        f"{name:<34} PyTorch {amount / t:9.1f} {unit}/s   onnxruntime {amount / e:9.1f} "
        f"{unit}/s   ratio onnxruntime / PyTorch {t / e:.2f}"
    )


def bench_speech(checkpoint: str, folder: Path, items: int, batch: int, repeats: int) -> None:
    transcriber = Transcriber(checkpoint, "cpu", batch)
    exported = ExportedRecognizer(folder, threads=torch.get_num_threads())
    utts, _ = read_manifest(transcriber.meta["test_manifest"], transcriber.tokenizer, "skip")
    waves = [load_audio(u.audio_filepath, transcriber.sample_rate) for u in utts[:items]]
    seconds = sum(w.numel() for w in waves) / transcriber.sample_rate
    print(f"speech: {len(waves)} test utterances, {seconds:.1f} s of audio, greedy CTC")

    def batches(fn):
        return lambda: [fn(waves[b : b + batch]) for b in range(0, len(waves), batch)]

    race(
        f"transcription, batches of {batch}",
        "audio s",
        seconds,
        batches(transcriber.transcribe_waves),
        batches(exported.transcribe_waves),
        repeats,
    )
    race(
        "transcription, one file at a time",
        "audio s",
        seconds,
        lambda: [transcriber.transcribe_waves([w]) for w in waves],
        lambda: [exported.transcribe_waves([w]) for w in waves],
        repeats,
    )


def bench_video(checkpoint: str, folder: Path, items: int, batch: int, repeats: int) -> None:
    exported = ExportedVideoModel(folder, threads=torch.get_num_threads())
    clip = exported.clip
    predictor = ActionClassifier(checkpoint, "cpu", batch) if exported.classes else None
    captioner = (
        VideoCaptioner(checkpoint, "cpu", batch, beam=1) if exported.vocab is not None else None
    )
    meta = (predictor or captioner).meta
    clips, _, _ = load_annotations(
        meta["clip"]["test_annotations"], exported.classes or None, on_error="skip"
    )
    dataset = VideoClipDataset(clips[:items], clip["size"], clip["num_frames"], skip_bad=True)
    loaded = [b for b in DataLoader(dataset, batch, collate_fn=collate_video) if "frames" in b]
    n = sum(len(b["paths"]) for b in loaded)
    print(f"video: {n} test clips x {clip['num_frames']} frames of {clip['size']} px")
    if predictor is not None:
        race(
            f"classification, batches of {batch}",
            "clips",
            n,
            lambda: [predictor.predict_batch(b) for b in loaded],
            lambda: [exported.predict_batch(b) for b in loaded],
            repeats,
        )
    if captioner is not None:
        race(
            f"greedy captions, batches of {batch}",
            "clips",
            n,
            lambda: [captioner.decode_batch(b) for b in loaded],
            lambda: [exported.caption_batch(b) for b in loaded],
            repeats,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speech-checkpoint", default="runs/speech/latest/checkpoints/best.ckpt")
    parser.add_argument("--video-checkpoint", default="runs/video/latest/checkpoints/best.ckpt")
    parser.add_argument("--items", type=int, default=96, help="test files per task")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"CPU, {torch.get_num_threads()} threads for PyTorch and onnxruntime alike")
    with tempfile.TemporaryDirectory() as tmp:
        for ckpt, bench, name in (
            (args.speech_checkpoint, bench_speech, "speech"),
            (args.video_checkpoint, bench_video, "video"),
        ):
            if not Path(ckpt).is_file():
                print(f"{name}: no checkpoint at {ckpt} (train one, or pass --{name}-checkpoint)")
                continue
            folder = Path(tmp) / name
            export_checkpoint(ckpt, "onnx", folder, check=0)
            bench(ckpt, folder, args.items, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
