"""MSVD (YouTube2Text) to an MSR-VTT-style captions JSON with train/val/test splits.

`AllVideoDescriptions.txt` holds `<video_id>_<start>_<end> <caption>` lines (`#` comments); the
clips are `<video_id>_<start>_<end>.avi` anywhere under ROOT. The standard split (Venugopalan
et al., 2015) is 1200 / 100 / 670 clips in the order of `youtube_mapping.txt` (vid1..vid1970)
when ROOT has that file, else in sorted clip order; another number of clips is split in the
same proportions. Splits are drawn over every described clip, so a missing file does not move
the others between splits.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from avseq.data.corpora.common import Report, files_by_name, layout_error, parallel_map, read_lines
from avseq.errors import AvseqError
from avseq.media.video import VIDEO_EXTENSIONS, video_info
from avseq.text.vocab import words
from avseq.utils.io import write_text_atomic

MSVD_LAYOUT = "AllVideoDescriptions.txt and the clips as <video_id>_<start>_<end>.avi"
STANDARD = (1200, 100, 670)
_MAPPING = re.compile(r"^(\S+)\s+vid(\d+)$")


def split_sizes(n: int) -> tuple[int, int, int]:
    """(train, val, test) clip counts: 1200/100/670 of 1970, the same proportions otherwise,
    with at least one val and one test clip when there are three or more."""
    total = sum(STANDARD)
    if n == total:
        return STANDARD
    val = round(n * STANDARD[1] / total)
    test = round(n * STANDARD[2] / total)
    if n >= 3:
        val, test = max(1, val), max(1, test)
    return n - val - test, val, test


def _order(ids: list[str], root: Path, report: Report) -> list[str]:
    mapping = sorted(root.rglob("youtube_mapping.txt"))
    if not mapping:
        report.notes.append("splits in sorted clip order (no youtube_mapping.txt under ROOT)")
        return sorted(ids)
    rank = {}
    for _, line in read_lines(mapping[0]):
        match = _MAPPING.match(line)
        if match:
            rank[match[1]] = int(match[2])
    report.notes.append(f"splits in the vidN order of {mapping[0]}")
    return sorted(ids, key=lambda v: (rank.get(v, len(rank) + 1), v))


def prepare_msvd(root: Path, report: Report) -> None:
    found = sorted(root.rglob("AllVideoDescriptions.txt"))
    if not found:
        raise layout_error("msvd", root, f"no AllVideoDescriptions.txt under {root}", MSVD_LAYOUT)
    source = found[0]
    captions: dict[str, list[str]] = defaultdict(list)
    for n, line in read_lines(source):
        if line.startswith("#"):
            continue
        vid, _, caption = line.partition(" ")
        caption = " ".join(caption.split())
        if not words(caption):
            report.drop("empty caption", vid, f"{source}:{n}")
            continue
        captions[vid].append(caption)
    if not captions:
        raise layout_error("msvd", root, f"no '<clip id> <caption>' line in {source}", MSVD_LAYOUT)
    ordered = _order(list(captions), root, report)
    train, val, _ = split_sizes(len(ordered))
    split_of = {
        v: "train" if i < train else "val" if i < train + val else "test"
        for i, v in enumerate(ordered)
    }
    videos = files_by_name(root, VIDEO_EXTENSIONS, skip=report.output)
    present = [v for v in ordered if v in videos]
    for vid in ordered:
        if vid not in videos:
            report.drop(
                "missing video", f"{split_of[vid]}/{vid}", f"expected {vid}.avi under {root}"
            )
    infos = parallel_map(video_info, [videos[v] for v in present], report.options.jobs)
    entries, sentences = [], []
    totals: dict[str, list[float]] = defaultdict(list)
    for vid, info in zip(present, infos, strict=True):
        if isinstance(info, AvseqError):
            report.drop("unreadable video", f"{split_of[vid]}/{vid}", str(info))
            continue
        entries.append({"video_id": vid, "split": split_of[vid], "path": str(videos[vid])})
        sentences += [{"video_id": vid, "caption": c} for c in captions[vid]]
        totals[split_of[vid]].append(info.duration)
    if not entries:
        report.notes.append("no usable video, so no captions.json was written")
        return
    for i, sentence in enumerate(sentences):
        sentence["sen_id"] = i
    data = {"videos": entries, "sentences": sentences}
    write_text_atomic(
        report.output / "captions.json", json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    )
    for split in ("train", "val", "test"):
        if totals[split]:
            report.split(split, "captions.json", len(totals[split]), sum(totals[split]))
    report.notes.append(
        f"{len(sentences)} captions, kept as written (the caption vocabulary lower-cases them)"
    )
