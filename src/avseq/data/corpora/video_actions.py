"""Action corpora to `path label` annotation files with a `classes.txt` beside them:
Kinetics (its CSV files) and HMDB51 (its split files).

Videos are referenced by absolute path, so the files work with or without `data.video_root`.
Every video is opened (its header read) before it is listed; missing and unreadable videos are
dropped, counted and listed in the report.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from avseq.data.corpora.common import Report, files_by_name, layout_error, parallel_map, read_lines
from avseq.errors import AvseqError
from avseq.media.video import VIDEO_EXTENSIONS, video_info
from avseq.utils.io import read_utf8, write_text_atomic

KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end", "label")
KINETICS_LAYOUT = (
    "Kinetics CSV files (youtube_id,time_start,time_end,label,split) and the clips as "
    "<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4 anywhere under the folder"
)
HMDB51_LAYOUT = "<class>_test_split<fold>.txt files and the videos as <class>/<video>.avi"
_SPLITS = {"train": "train", "training": "train", "val": "val", "validate": "val",
           "validation": "val", "valid": "val", "test": "test", "testing": "test"}  # fmt: skip
_HMDB_SPLIT = re.compile(r"^(.+)_test_split([123])\.txt$")


def write_action_splits(
    report: Report, splits: dict[str, list[tuple[str, Path | None, str, str]]], classes: list[str]
) -> None:
    """Writes `<split>.txt` (`path index` lines) and `classes.txt`.

    Args:
        splits: {split: [(item, video path or None when not found, label, expected location)]}.
        classes: the class names in index order.
    """
    write_text_atomic(report.output / "classes.txt", "".join(f"{c}\n" for c in classes))
    index = {name: i for i, name in enumerate(classes)}
    for split, rows in splits.items():
        found = [r for r in rows if r[1] is not None and not any(c.isspace() for c in str(r[1]))]
        for item, path, _, expected in rows:
            if path is None:
                report.drop("missing video", f"{split}/{item}", f"expected {expected}")
            elif any(c.isspace() for c in str(path)):
                report.drop(
                    "path with spaces",
                    f"{split}/{item}",
                    f"{path}: 'path label' lines split on spaces; rename the folders "
                    "(e.g. spaces to underscores) and run prepare again",
                )
        infos = parallel_map(video_info, [r[1] for r in found], report.options.jobs)
        lines, seconds = [], 0.0
        for (item, path, label, _), info in zip(found, infos, strict=True):
            if isinstance(info, AvseqError):
                report.drop("unreadable video", f"{split}/{item}", str(info))
                continue
            lines.append(f"{path} {index[label]}\n")
            seconds += info.duration
        if not lines:
            report.notes.append(f"{split}: no usable video, so no {split}.txt was written")
            continue
        write_text_atomic(report.output / f"{split}.txt", "".join(lines))
        report.split(split, f"{split}.txt", len(lines), seconds)


def _kinetics_csvs(root: Path, output: Path) -> list[tuple[Path, list[dict[str, str]]]]:
    tables = []
    for path in sorted(root.rglob("*.csv")):
        if output in path.parents:
            continue
        rows = list(csv.DictReader(read_utf8(path).splitlines()))
        columns = set(rows[0]) if rows else set()
        if set(KINETICS_COLUMNS[:3]) <= columns:  # a test CSV may come without labels
            tables.append((path, rows))
    return tables


def prepare_kinetics(root: Path, report: Report) -> None:
    """Kinetics: every CSV under ROOT with youtube_id, time_start, time_end (label, split)
    columns; a clip is `<youtube_id>_<start:06d>_<end:06d>.<ext>` (or `<youtube_id>.<ext>`)
    anywhere under ROOT. Missing clips are dropped and listed."""
    tables = _kinetics_csvs(root, report.output)
    if not tables:
        raise layout_error(
            "kinetics",
            root,
            f"no CSV with {','.join(KINETICS_COLUMNS)} columns under {root}",
            KINETICS_LAYOUT,
        )
    videos = files_by_name(root, VIDEO_EXTENSIONS, skip=report.output)
    splits: dict[str, list[tuple[str, Path | None, str, str]]] = defaultdict(list)
    labels: set[str] = set()
    for path, rows in tables:
        stem_split = next(
            (s for k, s in _SPLITS.items() if re.search(rf"(^|_){k}$", path.stem)), None
        )
        for n, row in enumerate(rows, 2):
            split = _SPLITS.get((row.get("split") or "").strip().lower(), stem_split)
            if split is None:
                raise AvseqError(
                    f"{path}:{n}: no split: the CSV has no 'split' column and its name "
                    "does not say (train.csv, val.csv, test.csv)"
                )
            try:
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except (TypeError, ValueError):
                raise AvseqError(
                    f"{path}:{n}: time_start/time_end are not numbers: {row}"
                ) from None
            youtube_id, label = row["youtube_id"].strip(), (row.get("label") or "").strip()
            name = f"{youtube_id}_{start:06d}_{end:06d}"
            if not label:
                report.drop("no label", f"{split}/{name}", f"{path}:{n}")
                continue
            labels.add(label)
            video = videos.get(name) or videos.get(youtube_id)
            splits[split].append((name, video, label, f"{root}/{split}/{label}/{name}.mp4"))
    if not labels:
        raise layout_error("kinetics", root, "no labelled row in the CSV files", KINETICS_LAYOUT)
    write_action_splits(report, dict(sorted(splits.items())), sorted(labels))


def prepare_hmdb51(root: Path, report: Report) -> None:
    """HMDB51: `<class>_test_split<fold>.txt` (`video.avi 0|1|2`: 1 train, 2 test, 0 unused)
    and the videos in `<class>/` (or anywhere under ROOT by name); writes train.txt and
    test.txt for the fold (HMDB51 has no validation split)."""
    fold = report.options.fold or 1
    lists = sorted(p for p in root.rglob(f"*_test_split{fold}.txt") if _HMDB_SPLIT.match(p.name))
    if not lists:
        raise layout_error("hmdb51", root, f"no *_test_split{fold}.txt under {root}", HMDB51_LAYOUT)
    videos = files_by_name(root, VIDEO_EXTENSIONS, skip=report.output)
    classes = sorted(_HMDB_SPLIT.match(p.name)[1] for p in lists)
    splits: dict[str, list[tuple[str, Path | None, str, str]]] = {"train": [], "test": []}
    unused = 0
    for path in lists:
        label = _HMDB_SPLIT.match(path.name)[1]
        for n, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise AvseqError(f"{path}:{n}: expected '<video> 0|1|2', got {line[:80]!r}")
            if parts[1] == "0":
                unused += 1
                continue
            video = root / label / parts[0]
            video = video if video.is_file() else videos.get(parts[0])
            split = "train" if parts[1] == "1" else "test"
            splits[split].append((Path(parts[0]).stem, video, label, f"{root}/{label}/{parts[0]}"))
    report.notes.append(f"fold {fold}: {unused} videos marked 0 (not in this fold) left out")
    write_action_splits(report, splits, classes)
