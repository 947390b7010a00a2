"""Up-front manifest checks: every line parsed, every audio file decoded, all problems listed."""

from __future__ import annotations

from pathlib import Path

from avseq.data.audio import load_audio
from avseq.data.manifest import Utterance, read_manifest
from avseq.data.tokenizer import CharTokenizer
from avseq.errors import AvseqError


def check_manifest(
    path: str | Path, tokenizer: CharTokenizer, sample_rate: int
) -> tuple[list[Utterance], list[str]]:
    """Validates a manifest and decodes all of its audio.

    Returns:
        (usable utterances, one "manifest:line: problem" message per bad line or file).
    """
    utterances, problems = read_manifest(path, tokenizer, on_error="skip")
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
