"""Where evaluation reports go by default, and where a named split's annotation file is."""

from __future__ import annotations

from pathlib import Path


def default_eval_dir(checkpoint: Path, source: Path) -> Path:
    """`<run>/eval/<checkpoint name>-<source name>`, beside the run's checkpoints folder."""
    return checkpoint.resolve().parent.parent / "eval" / f"{checkpoint.stem}-{source.stem}"


def split_annotations(test_annotations: str | Path | None, split: str) -> Path | None:
    """The `<split>.txt` beside a recorded `test.txt` (the built-in clips keep `test_comp.txt`
    and `test_other.txt` there), or None when there is none."""
    if not test_annotations or Path(test_annotations).name != "test.txt" or "/" in split:
        return None
    candidate = Path(test_annotations).with_name(f"{split}.txt")
    return candidate if candidate.is_file() else None
