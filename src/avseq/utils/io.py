"""Writing outputs so that a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
from pathlib import Path


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
