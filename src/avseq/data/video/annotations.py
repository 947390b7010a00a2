"""Labelled video lists in the field's layouts.

- An annotation file, MMAction2 / PyTorchVideo style: one `path label` line per video (also
  `path num_frames label`), where `label` is a class index or a class name. Class names come
  from a `classes.txt` beside the file (one per line, in index order) when there is one.
- UCF101's official split files `trainlist0N.txt` (`path index`, 1-based) and `testlist0N.txt`
  (`path` only; the class is the path's folder), with `classInd.txt` beside them.
- A folder-per-class tree (UCF101 / Kinetics layout): `root/<class name>/<video>`.

Relative video paths are resolved against `video_root` when given, else the annotation file's
folder. Blank lines and lines starting with `#` are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from avseq.errors import AnnotationError
from avseq.media.video import VIDEO_EXTENSIONS
from avseq.utils.io import read_utf8

UCF101_SPLIT = re.compile(r"^(train|test)list0?\d+\.txt$")


@dataclass(frozen=True)
class Clip:
    """One video; `where` ("train.txt:12") locates it for error messages. `label` is -1 for
    a video without an action label; `captions` are its reference captions, if any."""

    path: Path
    label: int
    where: str
    captions: tuple[str, ...] = ()


def read_classes(path: str | Path) -> list[str]:
    """`classes.txt` (one name per line) or UCF101's `classInd.txt` (`index name` lines)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such class list; give one class name per line")
    names: list[str] = []
    for n, raw in enumerate(read_utf8(path, AnnotationError).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():  # classInd.txt: "1 ApplyEyeMakeup"
            if int(parts[0]) != len(names) + 1:
                raise AnnotationError(
                    f"{path}:{n}: class index {parts[0]} out of order (expected {len(names) + 1})"
                )
            line = parts[1]
        names.append(line)
    if len(set(names)) != len(names):
        raise AnnotationError(f"{path}: class names repeat; each class must appear once")
    if not names:
        raise AnnotationError(f"{path}: the class list is empty")
    return names


def _default_classes(source: Path) -> list[str] | None:
    for name in ("classes.txt", "classInd.txt"):
        if (source.parent / name).is_file():
            return read_classes(source.parent / name)
    return None


def _parse_label(token: str, classes: list[str] | None, where: str, one_based: bool) -> int:
    if token.lstrip("-").isdigit():
        index = int(token) - (1 if one_based else 0)
        if index < 0 or (classes is not None and index >= len(classes)):
            count = f"{len(classes)} classes" if classes is not None else "the classes"
            raise AnnotationError(f"{where}: unknown label {token} (outside {count})")
        return index
    if classes is not None and token in classes:
        return classes.index(token)
    known = f"known: {', '.join(classes[:6])}{', ...' if len(classes) > 6 else ''}"
    raise AnnotationError(
        f"{where}: unknown label {token!r} ({known if classes else 'no class list'}); "
        "fix the line or add the class to classes.txt"
    )


def _from_folders(
    root: Path, classes: list[str] | None, on_error: str
) -> tuple[list[Clip], list[str], list[str]]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise AnnotationError(f"{root}: no class folders; expected {root}/<class>/<video>")
    names = classes if classes is not None else [p.name for p in folders]
    clips, problems = [], []
    for folder in folders:
        videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        if folder.name not in names:
            msg = f"{folder}: unknown class folder {folder.name!r} (not in the class list)"
            if on_error == "raise":
                raise AnnotationError(msg)
            problems.append(msg)
            continue
        clips += [Clip(v, names.index(folder.name), str(v)) for v in videos]
    if not clips and not problems:
        raise AnnotationError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS[:5])}, ...)")
    return clips, names, problems


def load_annotations(
    source: str | Path,
    classes: list[str] | str | Path | None = None,
    video_root: str | Path | None = None,
    on_error: str = "raise",
) -> tuple[list[Clip], list[str], list[str]]:
    """Reads a labelled video list (see the module doc for the layouts).

    Args:
        source: an annotation file, a UCF101 split file, or a folder-per-class tree.
        classes: class names in index order (or a file of them); by default a `classes.txt` /
            `classInd.txt` beside the file, the folder names, or the labels themselves.
        video_root: where relative paths point; default the annotation file's folder.
        on_error: "raise" stops at the first bad line with an `AnnotationError`; "skip"
            leaves bad lines out and returns their messages.

    Returns:
        (clips, class names, problems)
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    source = Path(source)
    if isinstance(classes, str | Path):
        classes = read_classes(classes)
    if source.is_dir():
        return _from_folders(source, classes, on_error)
    if not source.is_file():
        raise AnnotationError(f"{source}: no such annotation file or folder")
    if classes is None:
        classes = _default_classes(source)
    ucf = bool(UCF101_SPLIT.match(source.name))
    if ucf and classes is None:
        raise AnnotationError(
            f"{source}: a UCF101 split file needs classInd.txt beside it (or data.classes=FILE)"
        )
    base = Path(video_root) if video_root else source.parent
    rows: list[tuple[str, str | None, str]] = []
    clips, problems = [], []
    for n, raw in enumerate(read_utf8(source, AnnotationError).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{n}"
        parts = line.split()
        if len(parts) == 1 and ucf:
            rows.append((parts[0], None, where))
        elif len(parts) == 2 or (len(parts) == 3 and parts[1].isdigit()):
            rows.append((parts[0], parts[-1], where))
        else:
            msg = (
                f"{where}: cannot parse {line[:80]!r}; expected 'path label' "
                "(a relative video path, one space, a class index or name)"
            )
            if on_error == "raise":
                raise AnnotationError(msg)
            problems.append(msg)
    if classes is None:  # labels are the only source of class names
        labels = {label for _, label, _ in rows if label is not None}
        if all(label.isdigit() for label in labels):
            classes = [str(i) for i in range(max(int(x) for x in labels) + 1)] if labels else []
        else:
            classes = sorted(labels)
    for rel, label, where in rows:
        try:
            if label is None:  # UCF101 test list: the class is the folder
                folder = Path(rel).parts[0]
                if folder not in classes:
                    raise AnnotationError(f"{where}: unknown class folder {folder!r}")
                index = classes.index(folder)
            else:
                index = _parse_label(label, classes, where, one_based=ucf)
        except AnnotationError as err:
            if on_error == "raise":
                raise
            problems.append(str(err))
            continue
        path = Path(rel)
        clips.append(Clip(path if path.is_absolute() else base / path, index, where))
    if not clips and not problems:
        raise AnnotationError(f"{source}: no annotation lines ('path label' per line)")
    return clips, classes, problems


def write_annotations(path: str | Path, clips: list[Clip]) -> None:
    """Writes `path label` lines, paths relative to the file's folder when possible."""
    path = Path(path)
    lines = []
    for clip in clips:
        try:
            rel = clip.path.resolve().relative_to(path.parent.resolve())
        except ValueError:
            rel = clip.path.resolve()
        lines.append(f"{rel} {clip.label}\n")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)
