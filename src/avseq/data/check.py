"""Up-front data checks: every line parsed, every audio or video file decoded, all problems
listed."""

from __future__ import annotations

from pathlib import Path

from avseq.data.speech.manifest import Utterance, read_manifest
from avseq.data.video.annotations import Clip
from avseq.errors import AvseqError
from avseq.media.audio import load_audio
from avseq.media.video import read_clip
from avseq.text.tokenizer import Tokenizer


def check_manifest(
    path: str | Path, tokenizer: Tokenizer | None, sample_rate: int, require_text: bool = True
) -> tuple[list[Utterance], list[str]]:
    """Validates a manifest (transcripts against `tokenizer` unless None; lines need one
    unless `require_text` is False) and decodes all of its audio.

    Returns:
        (usable utterances, one "manifest:line: problem" message per bad line or file).
    """
    utterances, problems = read_manifest(path, tokenizer, "skip", require_text)
    good: list[Utterance] = []
    for utt in utterances:
        try:
            wave = load_audio(utt.audio_filepath, sample_rate)
        except AvseqError as err:
            problems.append(f"{utt.where}: {err}")
            continue
        actual = wave.numel() / sample_rate
        if abs(actual - utt.duration) > max(0.5, 0.1 * actual):
            problems.append(
                f"{utt.where}: the manifest says {utt.duration:.2f} s but the audio "
                f"lasts {actual:.2f} s; fix the duration field"
            )
            continue
        good.append(utt)
    return good, problems


def check_clips(clips: list[Clip], size: int = 64) -> tuple[list[Clip], list[str]]:
    """Decodes every video of an annotation list (the up-front check of `avseq check-data`).

    Returns:
        (usable clips, one "file:line: problem" message per bad video).
    """
    good: list[Clip] = []
    problems: list[str] = []
    for clip in clips:
        try:
            read_clip(clip.path, size)
        except AvseqError as err:
            problems.append(f"{clip.where}: {err}")
            continue
        good.append(clip)
    return good, problems


def source_kind(path: str) -> str:
    """ "manifest" (speech JSON lines), "captions" (MSR-VTT-style JSON) or "annotations"."""
    if path.endswith(".jsonl"):
        return "manifest"
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except OSError:
            return "manifest"  # its check reports the missing file
        return "manifest" if '"audio_filepath"' in first else "captions"
    return "annotations"
