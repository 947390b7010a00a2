"""Where evaluation reports go by default."""

from __future__ import annotations

from pathlib import Path


def default_eval_dir(checkpoint: Path, source: Path) -> Path:
    """`<run>/eval/<checkpoint name>-<source name>`, beside the run's checkpoints folder."""
    return checkpoint.resolve().parent.parent / "eval" / f"{checkpoint.stem}-{source.stem}"
