"""Corpora whose utterances can be stretches of longer recordings: Kaldi data directories
(`wav.scp`, `text`, optional `segments` and `utt2spk`) and TED-LIUM 3 (`stm/` + `sph/`).

Nothing in a corpus file is ever run: a `wav.scp` entry that is a command (`... |`) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from avseq.data.corpora.common import Report, layout_error, read_lines
from avseq.data.corpora.speech_output import SpeechItem, write_speech_split
from avseq.errors import AvseqError

KALDI_LAYOUT = "a Kaldi data directory: wav.scp, text, optional segments and utt2spk"
TEDLIUM_LAYOUT = "<split>/stm/<talk>.stm beside <split>/sph/<talk>.sph"
IGNORED = "ignore_time_segment_in_scoring"
_ARCHIVE = re.compile(r"\.ark:\d+$")
_SUFFIX = re.compile(r"(?<=\S) (?='\w)")  # TED-LIUM splits "it's" as "it 's"


def _kaldi_table(path: Path, fields: int | None) -> dict[str, tuple[list[str], int]]:
    """{key: (values, line number)} of a Kaldi table file: with `fields` None the rest of the
    line is one value (wav.scp, text), else at least `fields` values (segments, utt2spk)."""
    table = {}
    for n, line in read_lines(path):
        key, *rest = line.split(maxsplit=1)
        values = (rest or [""]) if fields is None else (rest[0].split() if rest else [])
        if fields is not None and len(values) < fields:
            raise AvseqError(f"{path}:{n}: expected an id and {fields} more field(s), got {line!r}")
        table[key] = (values, n)
    return table


def _recording_path(datadir: Path, n: int, rec: str, spec: str) -> Path:
    """The file a `wav.scp` entry names; commands and archive offsets are refused."""
    where = f"{datadir / 'wav.scp'}:{n}"
    if spec.rstrip().endswith("|") or spec.strip() == "-":
        raise AvseqError(
            f"{where}: recording {rec!r} is read by running a command ({spec[:60]!r}); avseq "
            "never runs commands from corpus files: convert the audio to files first (e.g. "
            "sph2pipe -f wav IN OUT, sox IN OUT) and list their paths in wav.scp"
        )
    if _ARCHIVE.search(spec):
        raise AvseqError(
            f"{where}: recording {rec!r} is an offset into a Kaldi archive ({spec[:60]!r}); "
            "list plain audio files (wav, flac, sph) in wav.scp"
        )
    path = Path(spec.strip()).expanduser()
    if path.is_absolute():
        return path
    # Kaldi reads relative paths from the recipe folder (data/train/../..) or where it runs
    tries = [Path.cwd() / path, datadir / path, datadir.parent.parent / path]
    return next((p.resolve() for p in tries if p.is_file()), tries[0])


def _kaldi_items(datadir: Path, report: Report) -> list[SpeechItem]:
    text_file = datadir / "text"
    if not text_file.is_file():
        raise layout_error("kaldi", datadir, f"no text beside {datadir / 'wav.scp'}", KALDI_LAYOUT)
    recordings = {
        rec: _recording_path(datadir, n, rec, fields[0])
        for rec, (fields, n) in _kaldi_table(datadir / "wav.scp", None).items()
    }
    texts = _kaldi_table(text_file, None)
    speakers = {}
    if (datadir / "utt2spk").is_file():
        speakers = {u: f[0] for u, (f, _) in _kaldi_table(datadir / "utt2spk", 1).items()}
    spans: dict[str, tuple[str, float, float | None]] = {}
    segmented = (datadir / "segments").is_file()
    if segmented:
        for utt, (fields, n) in _kaldi_table(datadir / "segments", 3).items():
            try:
                start, end = float(fields[1]), float(fields[2])
            except ValueError:
                raise AvseqError(
                    f"{datadir / 'segments'}:{n}: expected '<utt> <recording> <start> <end>' "
                    f"(seconds), got {' '.join([utt, *fields])!r}"
                ) from None
            spans[utt] = (fields[0], start, None if end < 0 else end)  # -1: to the end
    else:
        spans = {rec: (rec, 0.0, None) for rec in recordings}
    items = []
    split = datadir.name
    for utt, (fields, _) in texts.items():
        rec, start, end = spans.get(utt, (None, 0.0, None))
        if rec is None or rec not in recordings:
            detail = f"{utt} not in {'segments' if segmented else 'wav.scp'}"
            if rec is not None:
                detail = f"its recording {rec} is not in wav.scp"
            report.drop("no audio for the transcript", f"{split}/{utt}", detail)
            continue
        extra = {"speaker": speakers[utt]} if utt in speakers else {}
        item = SpeechItem(utt, recordings[rec], fields[0], extra)
        if segmented:  # cut into its own file; a whole recording is used as it is
            item.start, item.end = start, end
        items.append(item)
    for utt in sorted(set(spans) - set(texts)):
        report.drop("no transcript", f"{split}/{utt}", f"not in {text_file}")
    return items


def prepare_kaldi(root: Path, report: Report) -> None:
    """A Kaldi data directory (the split is its name), or a folder of them (`data/`)."""
    dirs = (
        [root] if (root / "wav.scp").is_file() else sorted(p.parent for p in root.glob("*/wav.scp"))
    )
    if not dirs:
        raise layout_error("kaldi", root, f"no wav.scp in {root} or its subfolders", KALDI_LAYOUT)
    parsed = [(d.name, _kaldi_items(d, report)) for d in dirs]  # every wav.scp checked first
    for split, items in parsed:
        write_speech_split(report, split, items)


def _stm_items(stm: Path, sph: Path, split: str, report: Report) -> list[SpeechItem]:
    items = []
    for n, line in read_lines(stm):
        if line.startswith(";;"):
            continue
        fields = line.split()
        try:
            talk, _, speaker = fields[:3]
            start, end = float(fields[3]), float(fields[4])
        except (ValueError, IndexError):
            raise AvseqError(
                f"{stm}:{n}: expected '<talk> <channel> <speaker> <start> <end> [<label>] "
                f"<text>' (seconds), got {line[:80]!r}"
            ) from None
        words = fields[5:]
        if words and words[0].startswith("<") and words[0].endswith(">") and "," in words[0]:
            words = words[1:]  # the <o,f0,male> label
        utt = f"{talk}-{round(start * 100):07d}-{round(end * 100):07d}"
        text = " ".join(words)
        if text == IGNORED:
            report.drop(IGNORED, f"{split}/{utt}", "not speech to train on")
            continue
        if not report.options.keep_text and _SUFFIX.search(text):
            joined = _SUFFIX.sub("", text)
            report.change("contractions joined", f"{split}/{utt}", text, joined)
            text = joined
        items.append(SpeechItem(utt, sph / f"{talk}.sph", text, {"speaker": speaker}, start, end))
    return items


def prepare_tedlium(root: Path, report: Report) -> None:
    """TED-LIUM 3: every folder with `stm/` (ROOT, or up to two levels down: `data/`,
    `legacy/train`, ...) is a split named by its path under ROOT (`legacy-train`); the
    segments are cut from the talks' `.sph` files into FLAC."""
    folders = [p.parent for depth in ("", "*/", "*/*/") for p in sorted(root.glob(f"{depth}stm"))]
    folders = [f for f in folders if f.is_dir() and any((f / "stm").glob("*.stm"))]
    if not folders:
        raise layout_error(
            "tedlium", root, f"no stm/*.stm in {root} or two levels down", TEDLIUM_LAYOUT
        )
    for folder in folders:
        split = "-".join(folder.relative_to(root).parts) or root.name
        if not (folder / "sph").is_dir():
            raise layout_error(
                "tedlium", root, f"no sph/ folder beside {folder / 'stm'}", TEDLIUM_LAYOUT
            )
        items = []
        for stm in sorted((folder / "stm").glob("*.stm")):
            items += _stm_items(stm, folder / "sph", split, report)
        write_speech_split(report, split, items)
