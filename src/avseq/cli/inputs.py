"""What the command line accepts as inputs: files, folders and manifests, expanded to paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from avseq.data.speech.manifest import read_manifest
from avseq.media.video import VIDEO_EXTENSIONS


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


def expand_videos(inputs: Iterable[str]) -> list[str]:
    """Video paths from files and folders (searched recursively for video extensions)."""
    paths: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(str(v) for v in p.rglob("*") if v.suffix.lower() in VIDEO_EXTENSIONS)
        else:
            paths.append(item)
    return paths
