"""What every corpus adapter shares: its options, the report of what was changed and dropped,
one-line layout errors, and reading many file headers at once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from avseq.errors import AvseqError
from avseq.utils.io import read_utf8, write_text_atomic

EXAMPLES = 5  # examples kept per kind of change or drop
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Options:
    """keep_text: transcripts as written (subword units); fold: HMDB51's split 1-3; jobs:
    threads reading file headers."""

    keep_text: bool = False
    fold: int | None = None
    jobs: int = 4


class Report:
    """What `avseq prepare` wrote, changed and left out, written as `prepare_report.json`,
    `prepare_report.md` and `dropped.txt` (every item left out, with why)."""

    def __init__(self, corpus: str, root: Path, output: Path, options: Options) -> None:
        self.corpus, self.root, self.output, self.options = corpus, root, output, options
        self.splits: dict[str, dict[str, Any]] = {}
        self.changed: dict[str, dict[str, Any]] = {}
        self.dropped: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self._dropped_lines: list[str] = []

    def change(self, kind: str, item: str, before: str, after: str) -> None:
        entry = self.changed.setdefault(kind, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append({"item": item, "before": before, "after": after})

    def drop(self, reason: str, item: str, detail: str = "") -> None:
        entry = self.dropped.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < EXAMPLES:
            entry["examples"].append({"item": item, "detail": detail})
        self._dropped_lines.append(f"{item}\t{reason}\t{detail}".rstrip("\t") + "\n")

    def split(self, name: str, file: str, items: int, seconds: float) -> None:
        self.splits[name] = {"file": file, "items": items, "hours": round(seconds / 3600, 4)}

    @property
    def items(self) -> int:
        return sum(s["items"] for s in self.splits.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "root": str(self.root),
            "output": str(self.output),
            "keep_text": self.options.keep_text,
            "fold": self.options.fold,
            "splits": self.splits,
            "changed": self.changed,
            "dropped": self.dropped,
            "notes": self.notes,
        }

    def markdown(self) -> str:
        lines = [f"# avseq prepare {self.corpus}", "", f"{self.root} -> {self.output}", ""]
        lines += [
            "(all counts and examples: prepare_report.json; every item left out: dropped.txt)"
        ]
        lines.append("")
        lines += ["| split | file | items | hours |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {s['file']} | {s['items']} | {s['hours']:.2f} |"
            for name, s in self.splits.items()
        ]
        for title, table, show in (
            ("Changed", self.changed, lambda e: f"{e['before']!r} -> {e['after']!r}"),
            ("Dropped", self.dropped, lambda e: e["detail"]),
        ):
            lines += ["", f"## {title}", ""]
            if not table:
                lines.append("nothing")
            for kind, entry in table.items():
                lines.append(f"- {kind}: {entry['count']}")
                lines += [f"  - {e['item']}: {show(e)}" for e in entry["examples"][:2]]
        if self.notes:
            lines += ["", "## Notes", "", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        write_text_atomic(
            self.output / "prepare_report.json", json.dumps(self.to_dict(), indent=2) + "\n"
        )
        write_text_atomic(self.output / "prepare_report.md", self.markdown())
        write_text_atomic(self.output / "dropped.txt", "".join(self._dropped_lines))


def layout_error(corpus: str, root: Path, found: str, expected: str) -> AvseqError:
    """The one-line error for a folder that is not laid out as the corpus is."""
    return AvseqError(f"prepare {corpus} {root}: {found} (expected {expected})")


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of a UTF-8 text file."""
    text = read_utf8(path)
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parallel_map(fn: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R | AvseqError]:
    """`fn` over `items` on `jobs` threads (file headers: the reads wait on the disk, not the
    interpreter), in order; an `AvseqError` is returned in place of its result."""

    def safe(item: T) -> R | AvseqError:
        try:
            return fn(item)
        except AvseqError as err:
            return err

    if jobs <= 1:
        return [safe(item) for item in items]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(safe, items))


def files_by_name(root: Path, suffixes: tuple[str, ...], skip: Path | None = None) -> dict:
    """{file name: path} and {stem: path} of the files under `root` with one of `suffixes`
    (the first in sorted order wins), skipping the folder `skip` (the output)."""
    found: dict[str, Path] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if skip is None or Path(folder, d) != skip)
        for name in sorted(names):
            path = Path(folder, name)
            if path.suffix.lower() in suffixes:
                found.setdefault(name, path)
                found.setdefault(path.stem, path)
    return found
