"""Writing one speech split: transcripts normalised, every audio file checked and its duration
read from its header, segments of long recordings cut into their own files, the manifest
written atomically.

Segments (Kaldi `segments`, TED-LIUM `.stm`) become FLAC files under `<output>/audio/<split>/`
so that every reader of manifests (training, evaluation, transcription, export checks) sees
plain one-utterance files; the manifest points to them relative to itself. Corpus files are
referenced by their absolute paths.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from avseq.data.corpora.common import Report, parallel_map
from avseq.data.corpora.transcripts import Unusable, keep_whole, normalize_transcript
from avseq.errors import AvseqError
from avseq.media.audio import audio_info
from avseq.utils.io import write_text_atomic

_UNSAFE = re.compile(r"[^\w.-]")


@dataclass
class SpeechItem:
    """One utterance: the whole of `audio`, or its stretch `start`..`end` seconds (`end`
    None: to the end of the file). `extra` fields (speaker, label) go into the manifest."""

    id: str
    audio: Path
    text: str
    extra: dict[str, str] = field(default_factory=dict)
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class _Drop:
    reason: str
    detail: str


def _sphere_problem(path: Path) -> _Drop | None:
    if path.suffix.lower() == ".sph" and path.is_file():
        with path.open("rb") as f:
            header = f.read(1024)
        if b"shorten" in header:  # old LDC compression libsndfile cannot decode
            return _Drop(
                "shorten-compressed SPHERE",
                f"{path}: decompress it first (sph2pipe -f wav IN OUT) and point to the WAV",
            )
    return None


def _audio_problem(path: Path, err: AvseqError) -> _Drop:
    if not path.is_file():
        return _Drop("missing audio file", str(path))
    return _Drop("unreadable audio file", str(err))


def _duration(path: Path) -> float | _Drop:
    problem = _sphere_problem(path)
    if problem:
        return problem
    try:
        info = audio_info(path)
    except AvseqError as err:
        return _audio_problem(path, err)
    return info.frames / info.samplerate


def _frames(path: Path) -> int:
    try:
        return sf.info(str(path)).frames if path.is_file() else -1
    except Exception:  # a damaged file from an interrupted run is cut again
        return -1


def _cut_recording(job: tuple[Path, list[tuple[SpeechItem, Path]]]) -> list[float | _Drop]:
    """Cuts the segments of one recording into FLAC files (reusing ones already cut)."""
    path, segments = job
    problem = _sphere_problem(path)
    if problem is None:
        try:
            info = audio_info(path)
        except AvseqError as err:
            problem = _audio_problem(path, err)
    if problem is not None:
        return [problem] * len(segments)
    narrow = ("PCM_16", "PCM_S8", "PCM_U8", "ULAW", "ALAW")
    subtype = "PCM_16" if info.subtype in narrow else "PCM_24"  # FLAC holds 16 or 24 bits
    rate = info.samplerate
    results: list[float | _Drop] = []
    try:
        with sf.SoundFile(str(path)) as f:
            for item, target in segments:
                first = round(item.start * rate)
                last = info.frames if item.end is None else min(round(item.end * rate), info.frames)
                if last <= first:
                    span = f"{item.start}-{item.end} s of {path} ({info.duration:.2f} s long)"
                    results.append(_Drop("empty segment", span))
                    continue
                if _frames(target) != last - first:
                    f.seek(first)
                    data = f.read(last - first, dtype="float32", always_2d=True)
                    tmp = target.with_name(f".{target.stem}.tmp.flac")
                    sf.write(str(tmp), data, rate, subtype=subtype, format="FLAC")
                    os.replace(tmp, target)
                results.append((last - first) / rate)
    except Exception as err:  # libsndfile's errors on damaged data, met while reading
        failed = _Drop("unreadable audio file", f"{path}: {err}")
        results += [failed] * (len(segments) - len(results))
    return results


def _cut(items: list[SpeechItem], folder: Path, jobs: int) -> list[tuple[str, float] | _Drop]:
    folder.mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    by_recording: dict[Path, list[tuple[SpeechItem, Path]]] = defaultdict(list)
    targets: list[Path] = []
    for item in items:
        name = _UNSAFE.sub("_", item.id)
        while name in names:  # two ids that differ only in unsafe characters
            name += "_"
        names.add(name)
        targets.append(folder / f"{name}.flac")
        by_recording[item.audio].append((item, targets[-1]))
    outcome: dict[Path, float | _Drop] = {}
    jobs_list = list(by_recording.items())
    for (_, segments), results in zip(
        jobs_list, parallel_map(_cut_recording, jobs_list, jobs), strict=True
    ):
        if isinstance(results, AvseqError):
            results = [_Drop("unreadable audio file", str(results))] * len(segments)
        outcome.update({target: r for (_, target), r in zip(segments, results, strict=True)})
    rel = folder.parent.parent  # the output folder, which the manifest sits in
    return [
        r if isinstance(r := outcome[t], _Drop) else (t.relative_to(rel).as_posix(), r)
        for t in targets
    ]


def write_speech_split(
    report: Report, split: str, items: list[SpeechItem], english: bool = True
) -> None:
    """Normalises, checks and writes `<output>/<split>.jsonl` (nothing when no item is left)."""
    texts: list[tuple[SpeechItem, str, list[str]]] = []
    for item in items:
        try:
            if report.options.keep_text:
                texts.append((item, keep_whole(item.text), []))
            else:
                texts.append((item, *normalize_transcript(item.text, english)))
        except Unusable as err:
            report.drop(err.reason, f"{split}/{item.id}", f"{err.detail} in {item.text!r}".strip())
    whole = [i for i, t in enumerate(texts) if t[0].start is None]
    parts = [i for i, t in enumerate(texts) if t[0].start is not None]
    located: dict[int, tuple[str, float] | _Drop] = {}
    paths = [texts[i][0].audio for i in whole]
    for i, path, d in zip(
        whole, paths, parallel_map(_duration, paths, report.options.jobs), strict=True
    ):
        located[i] = d if isinstance(d, _Drop) else (str(path), d)
    if parts:
        folder = report.output / "audio" / split
        cut = _cut([texts[i][0] for i in parts], folder, report.options.jobs)
        located.update(zip(parts, cut, strict=True))
    lines, seconds = [], 0.0
    for i, (item, text, changes) in enumerate(texts):
        where = located[i]
        if isinstance(where, _Drop):
            report.drop(where.reason, f"{split}/{item.id}", where.detail)
            continue
        for kind in changes:
            report.change(kind, f"{split}/{item.id}", item.text, text)
        entry = {"audio_filepath": where[0], "duration": round(where[1], 3), "text": text}
        lines.append(json.dumps({**entry, **item.extra}, ensure_ascii=False) + "\n")
        seconds += where[1]
    if not lines:
        report.notes.append(f"{split}: no usable utterance, so no {split}.jsonl was written")
        return
    write_text_atomic(report.output / f"{split}.jsonl", "".join(lines))
    report.split(split, f"{split}.jsonl", len(lines), seconds)
