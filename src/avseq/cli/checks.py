"""What the commands share about failing well: outputs checked before any work, the exit
status of an evaluation that skipped items, and one line for a config a constructor refused."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from hydra.errors import InstantiationException

from avseq.errors import AvseqError
from avseq.utils.io import check_writable_dir, check_writable_file


def check_outputs(args: argparse.Namespace) -> None:
    """Fails before any model is loaded or file decoded when an output cannot be written."""
    if getattr(args, "format", None) == "srt":
        check_writable_dir(Path(args.output or "."), "--output")
    elif args.output:
        check_writable_file(Path(args.output), "--output")
    plots = getattr(args, "attention_plot", None)
    if plots:
        check_writable_dir(Path(plots), "--attention-plot")


def skipped_status(summary: dict, what: str) -> int:
    """1 (with a warning line) when an evaluation left items out, else 0: scores over part of
    a test set must not pass for scores over all of it."""
    skipped = summary.get("skipped", 0)
    if not skipped:
        return 0
    print(
        f"warning: {skipped} {what}(s) skipped (listed above); the scores cover the others",
        file=sys.stderr,
    )
    return 1


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def instantiation_message(err: InstantiationException) -> str:
    """The cause of a failed `instantiate` (Hydra's own first line names only the target),
    with the config key and target it came from."""
    cause: BaseException = err
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, AvseqError):  # its message is complete already
        return first_line(cause)
    text = str(err)
    key = re.search(r"full_key: (\S+)", text)
    target = re.search(r"target '([^']+)'|partial\(([^,]+),", text)
    where = " ".join(
        part for part in (key and key[1], target and f"({target[1] or target[2]})") if part
    )
    return f"{where or 'config'}: {type(cause).__name__}: {first_line(cause)}"
