"""Writing outputs so that a crash never leaves a half-written file behind, checking before any
work that they can be written, and reading text input as UTF-8."""

from __future__ import annotations

import json
import os
from pathlib import Path

from avseq.errors import AvseqError


def write_text_atomic(path: Path, text: str) -> None:
    """Writes `text` to a temporary file beside `path`, flushes it to disk, then renames it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def write_report(
    out_dir: Path, rows: list[dict], summary: dict, markdown: str, prefix: str = ""
) -> None:
    """An evaluation's outputs, each written atomically: `<prefix>predictions.jsonl` (one row
    per item), `<prefix>summary.json` and `<prefix>summary.md`."""
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    write_text_atomic(out_dir / f"{prefix}predictions.jsonl", lines)
    write_text_atomic(out_dir / f"{prefix}summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out_dir / f"{prefix}summary.md", markdown)


def read_utf8(path: Path, error: type[Exception] = AvseqError) -> str:
    """A text file's contents (UTF-8, a leading byte-order mark dropped).

    Raises:
        error: naming the file and line when it is not UTF-8 (e.g. saved as Latin-1).
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise error(f"{path}:{line}: {not_utf8(err)}") from None


def not_utf8(err: UnicodeDecodeError) -> str:
    """The message for text that is not UTF-8, with what to do."""
    return (
        f"not UTF-8 text (byte 0x{err.object[err.start]:02x}); re-save the file as UTF-8, "
        "e.g. iconv -f latin1 -t utf-8 OLD > NEW"
    )


def check_writable_file(path: Path, option: str) -> None:
    """Fails before any work when `path` cannot be written as a file (it is a folder, or it or
    the folder it would be made in is read-only)."""
    path = Path(path)
    if path.is_dir():
        raise AvseqError(f"{option} {path}: is a folder; give a file name (e.g. {path}/out.jsonl)")
    if path.exists() and not os.access(path, os.W_OK):
        raise AvseqError(f"{option} {path}: the file is read-only; give another path")
    _check_creatable(path.parent, option, path)


def check_writable_dir(path: Path, option: str) -> None:
    """Fails before any work when `path` cannot be used as an output folder (it is a file, or
    it or the folder it would be made in is read-only)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AvseqError(f"{option} {path}: is a file, not a folder; give a folder to make")
    _check_creatable(path, option, path)


def _check_creatable(folder: Path, option: str, target: Path) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise AvseqError(f"{option} {target}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AvseqError(f"{option} {target}: cannot write in {existing} (permission denied)")
