"""Transcription and evaluation: one decode path for `avseq transcribe` and `avseq evaluate`."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.checkpoint import load_speech_model
from avseq.data.audio import duration_seconds, iter_chunks, load_audio
from avseq.data.manifest import read_manifest
from avseq.decoding.ctc import ctc_greedy_texts
from avseq.errors import AvseqError
from avseq.metrics.asr import ASRScore

log = logging.getLogger(__name__)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AvseqError(f"--device {device}: no CUDA GPU is visible; use --device cpu")
    return torch.device(device)


@dataclass
class Transcriber:
    """Greedy CTC transcription with a trained checkpoint.

    Args:
        checkpoint: a speech .ckpt written by `avseq train`.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        batch_size: waveforms decoded together.
        chunk_seconds: files longer than this are streamed in chunks of about this length, so
            memory stays bounded for hours-long audio.
    """

    checkpoint: str | Path
    device: str = "auto"
    batch_size: int = 16
    chunk_seconds: float = 30.0
    audio_seconds: float = field(default=0.0, init=False)
    compute_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._device = pick_device(self.device)
        self.model, self.tokenizer, self.meta = load_speech_model(self.checkpoint, self._device)
        self.sample_rate = self.model.sample_rate

    @torch.inference_mode()
    def transcribe_waves(self, waves: list[torch.Tensor]) -> list[str]:
        """(T_i,) waveforms at the model rate -> transcripts, decoded in length-sorted batches."""
        order = sorted(range(len(waves)), key=lambda i: waves[i].numel())
        texts: list[str] = [""] * len(waves)
        start = time.perf_counter()
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            batch = pad_sequence([waves[i] for i in idx], batch_first=True).to(self._device)
            lengths = torch.tensor([waves[i].numel() for i in idx], device=self._device)
            logits, frames = self.model(batch, lengths)
            for i, text in zip(idx, ctc_greedy_texts(logits, frames, self.tokenizer), strict=True):
                texts[i] = text
        self.compute_seconds += time.perf_counter() - start
        self.audio_seconds += sum(w.numel() for w in waves) / self.sample_rate
        return texts

    def transcribe_long(self, path: str | Path) -> str:
        """A long file, streamed chunk by chunk; chunk transcripts are joined with spaces."""
        parts: list[str] = []
        pending: list[torch.Tensor] = []
        for _, wave in iter_chunks(path, self.sample_rate, self.chunk_seconds):
            pending.append(wave)
            if len(pending) == self.batch_size:
                parts += self.transcribe_waves(pending)
                pending = []
        if pending:
            parts += self.transcribe_waves(pending)
        return " ".join(p for p in parts if p)

    def transcribe_files(
        self, paths: Iterable[str | Path]
    ) -> Iterator[tuple[str, str | None, str | None]]:
        """Yields (path, transcript, error) per file in order; a bad file yields its error."""
        batch: list[tuple[str, torch.Tensor]] = []

        def flush() -> Iterator[tuple[str, str | None, str | None]]:
            texts = self.transcribe_waves([w for _, w in batch])
            yield from ((p, t, None) for (p, _), t in zip(batch, texts, strict=True))
            batch.clear()

        for path in map(str, paths):
            try:
                if duration_seconds(path) > self.chunk_seconds:
                    yield from flush()
                    yield path, self.transcribe_long(path), None
                    continue
                batch.append((path, load_audio(path, self.sample_rate)))
            except AvseqError as err:
                yield from flush()
                yield path, None, str(err)
                continue
            if len(batch) == self.batch_size:
                yield from flush()
        yield from flush()


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Audio paths from a mix of audio files and JSON-lines manifests."""
    paths: list[str] = []
    for item in inputs:
        if item.endswith((".jsonl", ".json")):
            utts, _ = read_manifest(item, require_text=False)
            paths += [str(u.audio_filepath) for u in utts]
        else:
            paths.append(item)
    return paths


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    out_dir: Path, rows: list[dict], summary: dict, markdown: str, prefix: str = ""
) -> None:
    """An evaluation's outputs, each written atomically: `<prefix>predictions.jsonl` (one row
    per item), `<prefix>summary.json` and `<prefix>summary.md`."""
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    write_text_atomic(out_dir / f"{prefix}predictions.jsonl", lines)
    write_text_atomic(out_dir / f"{prefix}summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out_dir / f"{prefix}summary.md", markdown)


def evaluate_speech(
    transcriber: Transcriber, manifest: str | Path, out_dir: Path
) -> dict[str, Any]:
    """WER/CER with S/D/I counts on a manifest; writes predictions.jsonl, summary.json/.md."""
    utts, problems = read_manifest(manifest, transcriber.tokenizer, on_error="skip")
    for problem in problems:
        log.warning("skipped: %s", problem)
    score, rows, skipped = ASRScore(), [], len(problems)
    for b in range(0, len(utts), transcriber.batch_size * 4):
        chunk, waves = [], []
        for utt in utts[b : b + transcriber.batch_size * 4]:
            try:
                waves.append(load_audio(utt.audio_filepath, transcriber.sample_rate))
                chunk.append(utt)
            except AvseqError as err:
                log.warning("skipped: %s: %s", utt.where, err)
                skipped += 1
        for utt, hyp in zip(chunk, transcriber.transcribe_waves(waves), strict=True):
            ref = transcriber.tokenizer.normalize(utt.text)
            w, c = score.add(ref, hyp)
            rows.append(
                {
                    "audio_filepath": str(utt.audio_filepath),
                    "reference": ref,
                    "hypothesis": hyp,
                    "wer": round(w.rate, 4),
                    "cer": round(c.rate, 4),
                    "word_errors": w.as_dict(),
                    "char_errors": c.as_dict(),
                }
            )
    if not rows:
        raise AvseqError(f"{manifest}: no utterance could be evaluated")
    rtf = transcriber.compute_seconds / max(transcriber.audio_seconds, 1e-9)
    summary = {
        "checkpoint": str(transcriber.checkpoint),
        "manifest": str(manifest),
        "utterances": len(rows),
        "skipped": skipped,
        "wer": score.words.rate,
        "cer": score.chars.rate,
        "words": score.words.as_dict(),
        "chars": score.chars.as_dict(),
        "real_time_factor": rtf,
        "device": str(transcriber._device),
    }
    write_report(out_dir, rows, summary, summary_markdown(summary, rows))
    return summary


def summary_markdown(summary: dict[str, Any], rows: list[dict[str, Any]], worst: int = 5) -> str:
    w, c = summary["words"], summary["chars"]
    lines = [
        f"# Evaluation: {Path(summary['checkpoint']).name} on {Path(summary['manifest']).name}",
        "",
        f"{summary['utterances']} utterances ({summary['skipped']} skipped), "
        f"real-time factor {summary['real_time_factor']:.4f} on {summary['device']}",
        "",
        "| unit | error rate | substitutions | deletions | insertions | reference |",
        "|---|---|---|---|---|---|",
        f"| words | {100 * w['rate']:.2f}% | {w['substitutions']} | {w['deletions']} | "
        f"{w['insertions']} | {w['reference_length']} |",
        f"| chars | {100 * c['rate']:.2f}% | {c['substitutions']} | {c['deletions']} | "
        f"{c['insertions']} | {c['reference_length']} |",
        "",
        f"Worst {worst} utterances by WER:",
        "",
    ]
    for r in sorted(rows, key=lambda r: -r["wer"])[:worst]:
        lines += [f"- REF: {r['reference']}", f"  HYP: {r['hypothesis']}"]
    return "\n".join(lines) + "\n"
