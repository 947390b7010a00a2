"""Captioned videos in the MSR-VTT / MSVD JSON layout.

    {"videos":    [{"video_id": "video0", "split": "train", ...}, ...],
     "sentences": [{"video_id": "video0", "caption": "a man is singing"}, ...]}

A video is found by its `path` key when it has one (relative to `video_root`, else the JSON
file's folder), else as `<video_id>.<ext>` anywhere under `video_root` (MSR-VTT's
`TrainValVideo/video0.mp4`). Split names are normalised: `validate` and `validation` are `val`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avseq.data.video.annotations import Clip
from avseq.errors import AnnotationError
from avseq.media.video import VIDEO_EXTENSIONS
from avseq.text.vocab import words
from avseq.utils.io import read_utf8

SPLIT_ALIASES = {"validate": "val", "validation": "val", "valid": "val", "dev": "val"}


@dataclass(frozen=True)
class CaptionedVideo:
    """One video and its reference captions; `where` locates it for error messages."""

    video_id: str
    split: str
    path: Path
    captions: tuple[str, ...]
    where: str

    def clip(self) -> Clip:
        """The video as an unlabelled `Clip` carrying its captions."""
        return Clip(self.path, -1, self.where, self.captions)


def _parse(path: Path) -> dict:
    if not path.is_file():
        raise AnnotationError(f"{path}: no such captions file (MSR-VTT-style JSON expected)")
    try:
        data = json.loads(read_utf8(path, AnnotationError))
    except json.JSONDecodeError as err:
        raise AnnotationError(
            f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg}); fix the file "
            "(expected {'videos': [...], 'sentences': [...]})"
        ) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("videos"), list)
        or not isinstance(data.get("sentences"), list)
    ):
        raise AnnotationError(
            f"{path}: expected a JSON object with 'videos' and 'sentences' lists (MSR-VTT layout)"
        )
    return data


def load_captions(
    source: str | Path,
    video_root: str | Path | None = None,
    on_error: str = "raise",
) -> tuple[dict[str, CaptionedVideo], list[str]]:
    """Reads an MSR-VTT-style captions file.

    Args:
        source: the JSON file.
        video_root: folder the videos are in (searched recursively); default the file's folder.
        on_error: "raise" stops at the first problem with an `AnnotationError`; "skip" leaves
            out bad entries (missing videos, empty captions, unknown ids) and lists them.

    Returns:
        ({video_id: video}, problems); only videos with at least one caption are kept.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    source = Path(source)
    data = _parse(source)
    root = Path(video_root) if video_root else source.parent
    problems: list[str] = []

    def problem(msg: str) -> None:
        if on_error == "raise":
            raise AnnotationError(msg)
        problems.append(msg)

    by_stem: dict[str, Path] | None = None
    entries: dict[str, tuple[str, Path, str]] = {}
    for n, video in enumerate(data["videos"]):
        where = f"{source}: videos[{n}]"
        vid = video.get("video_id") if isinstance(video, dict) else None
        if not isinstance(vid, str | int) or str(vid) == "":
            problem(f"{where}: no 'video_id'; each video needs one")
            continue
        vid = str(vid)
        split = str(video.get("split", "train")).lower()
        split = SPLIT_ALIASES.get(split, split)
        if isinstance(video.get("path"), str):
            path = Path(video["path"])
            path = path if path.is_absolute() else root / path
        else:
            if by_stem is None:  # one walk of the folder for all ids
                by_stem = {
                    p.stem: p
                    for p in sorted(root.rglob("*"))
                    if p.suffix.lower() in VIDEO_EXTENSIONS
                }
            path = by_stem.get(vid)
            if path is None:
                problem(
                    f"{where}: no video file for id {vid!r} ({vid}.mp4, .avi, ... under "
                    f"{root}); set data.video_root to the videos' folder"
                )
                continue
        if not path.is_file():
            problem(f"{where}: video {vid!r} points to a missing file {path}")
            continue
        entries[vid] = (split, path, where)
    captions: dict[str, list[str]] = {vid: [] for vid in entries}
    known = {str(v.get("video_id")) for v in data["videos"] if isinstance(v, dict)}
    for n, sentence in enumerate(data["sentences"]):
        where = f"{source}: sentences[{n}]"
        if not isinstance(sentence, dict):
            problem(f"{where}: expected an object with 'video_id' and 'caption'")
            continue
        vid, text = str(sentence.get("video_id", "")), sentence.get("caption")
        if not isinstance(text, str) or not words(text):
            problem(f"{where}: empty caption for video {vid!r}; remove it or write one")
            continue
        if vid not in captions:
            if vid not in known:
                problem(f"{where}: caption for unknown video {vid!r} (not in 'videos')")
            continue  # its video was reported above
        captions[vid].append(" ".join(words(text)))
    out = {}
    for vid, (split, path, where) in entries.items():
        if not captions[vid]:
            problem(f"{where}: video {vid!r} has no captions")
            continue
        out[vid] = CaptionedVideo(vid, split, path, tuple(captions[vid]), where)
    if not out and not problems:
        raise AnnotationError(f"{source}: no captioned videos")
    return out, problems
