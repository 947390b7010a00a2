"""JSON-lines manifests: `{"audio_filepath": ..., "duration": ..., "text": ...}` per line.

Paths are relative to the manifest's folder unless absolute. This is the format NeMo and many
other toolkits use, so users' corpora (LibriSpeech converted, Common Voice, ...) load as they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from avseq.errors import AvseqError, ManifestError
from avseq.media.audio import duration_seconds
from avseq.text.tokenizer import Tokenizer
from avseq.utils.io import not_utf8


@dataclass(frozen=True)
class Utterance:
    """One manifest entry with its audio path resolved."""

    audio_filepath: Path
    duration: float
    text: str
    where: str  # "manifest.jsonl:12", for error messages
    # the line's other keys (speaker, voice, ...): what evaluation can group results by
    fields: dict = field(default_factory=dict, compare=False, hash=False)


def _parse_line(raw: str, where: str, base: Path, require_text: bool) -> Utterance:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ManifestError(
            f"{where}: not valid JSON ({err.msg}); each line must be one JSON object"
        ) from None
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(item).__name__}")
    keys = ["audio_filepath", "text"] if require_text else ["audio_filepath"]
    missing = [k for k in keys if k not in item]
    if missing:
        raise ManifestError(
            f"{where}: missing key(s) {missing}; each line needs "
            '{"audio_filepath": ..., "duration": ..., "text": ...}'
        )
    if not isinstance(item["audio_filepath"], str) or not item["audio_filepath"]:
        raise ManifestError(f"{where}: audio_filepath must be a non-empty string")
    text = item.get("text", "")
    if not isinstance(text, str):
        raise ManifestError(f"{where}: text must be a string, got {text!r}")
    path = Path(item["audio_filepath"])
    path = path if path.is_absolute() else base / path
    duration = item.get("duration")
    if duration is None:
        try:
            duration = duration_seconds(path)
        except AvseqError as err:
            raise ManifestError(f"{where}: {err}") from None
    if not isinstance(duration, int | float) or not math.isfinite(duration) or duration <= 0:
        raise ManifestError(
            f"{where}: duration must be a positive number of seconds, got {duration!r}"
        )
    known = ("audio_filepath", "duration", "text")
    fields = {k: v for k, v in item.items() if k not in known and isinstance(v, str | int | float)}
    return Utterance(path, float(duration), text, where, fields)


def read_manifest(
    path: str | Path,
    tokenizer: Tokenizer | None = None,
    on_error: str = "raise",
    require_text: bool = True,
) -> tuple[list[Utterance], list[str]]:
    """Reads and validates a manifest.

    Args:
        path: the JSON-lines manifest.
        tokenizer: when given, transcripts with characters outside its vocabulary are bad lines.
        on_error: "raise" stops at the first bad line; "skip" leaves bad lines out and
            returns their messages.
        require_text: whether lines must have a transcript (not for transcription input).

    Returns:
        (utterances, problems): the good entries and one message per skipped line.

    Raises:
        ManifestError: the first bad line (on_error="raise"), or a missing/empty manifest.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    path = Path(path)
    if path.is_dir():
        raise ManifestError(f"{path}: is a folder, not a manifest; give the .jsonl file inside it")
    if not path.is_file():
        raise ManifestError(
            f"{path}: no such manifest; generate it (make data-speech) or fix the path"
        )
    base = path.parent
    utterances: list[Utterance] = []
    problems: list[str] = []
    with path.open("rb") as f:
        for number, data in enumerate(f, start=1):
            where = f"{path}:{number}"
            try:
                try:  # line by line, so one Latin-1 line costs that line only
                    raw = data.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    raise ManifestError(f"{where}: {not_utf8(err)}") from None
                if not raw.strip():
                    continue
                utt = _parse_line(raw, where, base, require_text)
                if tokenizer is not None and require_text:
                    if not tokenizer.normalize(utt.text):
                        raise ManifestError(f"{where}: empty transcript; remove the line")
                    bad = tokenizer.invalid_chars(utt.text)
                    if bad:
                        raise ManifestError(
                            f"{where}: transcript has characters outside the "
                            f"vocabulary {bad!r}; spell numbers out as words or "
                            "remove them"
                        )
            except ManifestError as err:
                if on_error == "raise":
                    raise
                problems.append(str(err))
                continue
            utterances.append(utt)
    if not utterances and not problems:
        raise ManifestError(f"{path}: the manifest holds no entries")
    return utterances, problems


def write_manifest(path: str | Path, entries: Iterable[dict]) -> None:
    """Writes JSON lines atomically (to a temporary file, then renamed)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    tmp.replace(path)
