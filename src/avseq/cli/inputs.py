"""What the command line accepts as inputs: files, folders and manifests, expanded to paths."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from avseq.data.speech.manifest import read_manifest
from avseq.errors import AvseqError
from avseq.media.audio import AUDIO_EXTENSIONS
from avseq.media.video import VIDEO_EXTENSIONS


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Audio paths from a mix of audio files, folders of them (searched recursively) and
    JSON-lines manifests."""
    paths: list[str] = []
    for item in inputs:
        if Path(item).is_dir():
            paths += _folder(Path(item), AUDIO_EXTENSIONS, "audio")
        elif item.endswith((".jsonl", ".json")):
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
        paths += _folder(p, VIDEO_EXTENSIONS, "video") if p.is_dir() else [item]
    return paths


def _folder(folder: Path, extensions: Iterable[str], kind: str) -> list[str]:
    found = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in extensions)
    if not found:
        raise AvseqError(
            f"{folder}: a folder with no {kind} files in it ({', '.join(extensions)}); "
            "give the files or another folder"
        )
    return found


def unique_names(paths: Iterable[str], suffix: str) -> list[str]:
    """One output file name per input (`<stem><suffix>`), numbered (`<stem>-2<suffix>`) when
    two inputs share a name, so no output overwrites another."""
    used: set[str] = set()
    names: list[str] = []
    for path in paths:
        stem = Path(path).stem
        name, n = stem + suffix, 1
        while name in used:
            n += 1
            name = f"{stem}-{n}{suffix}"
        used.add(name)
        names.append(name)
    return names
