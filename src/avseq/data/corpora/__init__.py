"""Adapters from real corpora's own layouts to avseq's manifests and annotation files
(`avseq prepare NAME ROOT --output DIR`).

Each adapter reads one corpus's folder as its distributors lay it out and writes, under the
output folder: speech JSON-lines manifests (one per official split), or video annotation files
with `classes.txt`, or an MSR-VTT-style captions JSON; and `prepare_report.json`,
`prepare_report.md` and `dropped.txt` saying what was changed and what was left out, and why.
Nothing is downloaded, and nothing in a corpus file is ever run.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from avseq.errors import AvseqError
from avseq.utils.io import check_writable_dir

if TYPE_CHECKING:
    from avseq.data.corpora.common import Report

# name -> "module:function"; imported on use, so the command line starts fast
CORPORA: dict[str, str] = {
    "librispeech": "speech_files:prepare_librispeech",
    "commonvoice": "speech_files:prepare_commonvoice",
    "speechcommands": "speech_files:prepare_speechcommands",
    "kaldi": "speech_segments:prepare_kaldi",
    "tedlium": "speech_segments:prepare_tedlium",
    "kinetics": "video_actions:prepare_kinetics",
    "hmdb51": "video_actions:prepare_hmdb51",
    "msvd": "msvd:prepare_msvd",
}


def prepare(
    name: str,
    root: str | Path,
    output: str | Path,
    keep_text: bool = False,
    fold: int | None = None,
    jobs: int = 4,
) -> Report:
    """Prepares corpus `name` found in `root` into the folder `output`.

    Args:
        name: one of `CORPORA`.
        root: the corpus's folder, as distributed.
        output: the folder the manifests / annotation files and the report go to.
        keep_text: keep transcripts as written (for subword units) instead of normalising
            them to the character alphabet.
        fold: HMDB51's split (1-3, default 1).
        jobs: threads reading file headers.

    Returns:
        The `Report` (also written to `output`).

    Raises:
        AvseqError: one line, for a folder that is not laid out as the corpus is, an output
            that cannot be written, a refused entry (a command in wav.scp), or no usable item.
    """
    from avseq.data.corpora.common import Options, Report

    if name not in CORPORA:
        raise AvseqError(f"prepare: unknown corpus {name!r}; one of {', '.join(CORPORA)}")
    if fold is not None and (name != "hmdb51" or fold not in (1, 2, 3)):
        raise AvseqError(f"prepare {name}: --fold {fold}: only hmdb51 has folds (1, 2 or 3)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AvseqError(f"prepare {name} {root}: no such folder; give the corpus's folder")
    output = Path(output).expanduser()
    check_writable_dir(output, "--output")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AvseqError(f"--output {output}: cannot make the folder ({err.strerror})") from None
    report = Report(name, root.resolve(), output.resolve(), Options(keep_text, fold, jobs))
    module, function = CORPORA[name].split(":")
    adapter = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    adapter(report.root, report)
    report.write()
    if not report.items:
        why = ", ".join(f"{e['count']} {reason}" for reason, e in report.dropped.items())
        raise AvseqError(
            f"prepare {name} {root}: no usable item (dropped: {why or 'none'}); see "
            f"{output / 'prepare_report.md'} for examples and dropped.txt for the list"
        )
    return report
