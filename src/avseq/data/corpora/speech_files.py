"""Corpora with one audio file per utterance: LibriSpeech, Common Voice, Speech Commands."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from avseq.data.corpora.common import Report, layout_error, read_lines
from avseq.data.corpora.speech_output import SpeechItem, write_speech_split
from avseq.utils.io import read_utf8

LIBRISPEECH_LAYOUT = "<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt"
COMMONVOICE_SPLITS = ("train", "dev", "test")
COMMONVOICE_LAYOUT = "<locale>/train.tsv, dev.tsv, test.tsv beside <locale>/clips/*.mp3"
SPEECHCOMMANDS_LAYOUT = (
    "<word>/<speaker>_nohash_<n>.wav folders with validation_list.txt and testing_list.txt"
)
_LOCALE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")


def prepare_librispeech(root: Path, report: Report) -> None:
    """`<split>/<speaker>/<chapter>/<id>.flac` + `<speaker>-<chapter>.trans.txt` (ROOT is the
    `LibriSpeech/` folder, or one split folder), one manifest per split, `speaker` field."""
    transcripts = sorted(root.glob("*/*/*/*.trans.txt"))
    if transcripts:
        splits = defaultdict(list)
        for t in transcripts:
            splits[t.relative_to(root).parts[0]].append(t)
    elif sorted(root.glob("*/*/*.trans.txt")):  # ROOT is one split, e.g. dev-clean/
        splits = {root.name: sorted(root.glob("*/*/*.trans.txt"))}
    else:
        raise layout_error(
            "librispeech", root, f"no */*/*/*.trans.txt under {root}", LIBRISPEECH_LAYOUT
        )
    for split, files in sorted(splits.items()):
        items = []
        for trans in files:
            for _, line in read_lines(trans):
                utt, _, text = line.partition(" ")
                audio = trans.parent / f"{utt}.flac"
                items.append(SpeechItem(utt, audio, text, {"speaker": utt.split("-")[0]}))
        write_speech_split(report, split, items)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    # Common Voice quotes nothing: a '"' in a sentence is a character of it
    rows = list(csv.reader(read_utf8(path).splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or not {"path", "sentence"} <= set(rows[0]):
        raise layout_error(
            "commonvoice",
            path.parent,
            f"{path} has no 'path' and 'sentence' columns in its header line",
            "Common Voice's tab-separated client_id, path, sentence, ... columns",
        )
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if row]


def prepare_commonvoice(root: Path, report: Report) -> None:
    """`<locale>/{train,dev,test}.tsv` + `clips/*.mp3` (ROOT is the locale folder, or the
    release folder holding exactly one), `speaker` field from client_id. Numbers and symbols
    are spelled out in English only for an English locale."""
    if not any((root / f"{s}.tsv").is_file() for s in COMMONVOICE_SPLITS):
        locales = sorted(p.parent for p in root.glob("*/train.tsv"))
        if len(locales) != 1:
            found = (
                f"{len(locales)} locale folders ({', '.join(p.name for p in locales[:5])}); "
                "give one of them"
                if locales
                else f"no train.tsv, dev.tsv or test.tsv in {root}"
            )
            raise layout_error("commonvoice", root, found, COMMONVOICE_LAYOUT)
        root = locales[0]
    clips = root / "clips"
    if not clips.is_dir():
        raise layout_error("commonvoice", root, f"no clips/ folder in {root}", COMMONVOICE_LAYOUT)
    for split in COMMONVOICE_SPLITS:
        tsv = root / f"{split}.tsv"
        if not tsv.is_file():
            report.notes.append(f"{split}: no {tsv.name} in {root}")
            continue
        rows = _read_tsv(tsv)
        locale = next((r["locale"] for r in rows if r.get("locale")), None)
        locale = locale or (root.name if _LOCALE.match(root.name) else "en")
        items = [
            SpeechItem(
                Path(r["path"]).stem,
                clips / r["path"],
                r.get("sentence") or "",
                {"speaker": r.get("client_id") or ""},
            )
            for r in rows
            if r.get("path")
        ]
        english = locale.lower().startswith("en")
        if not english and not report.options.keep_text:
            note = f"{split}: locale {locale}: numbers and symbols are not spelled out"
            report.notes.append(note + " (transcripts holding them are dropped)")
        write_speech_split(report, split, items, english=english)
    report.notes.append("validated.tsv, other.tsv and invalidated.tsv are not official splits")


def prepare_speechcommands(root: Path, report: Report) -> None:
    """Speech Commands v2: a folder per word (`_background_noise_` skipped), splits from
    `validation_list.txt` and `testing_list.txt` (the rest is training); text and `label` are
    the word, `speaker` the file name's prefix."""
    lists = {}
    for split, name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
        if not (root / name).is_file():
            raise layout_error(
                "speechcommands", root, f"no {name} in {root}", SPEECHCOMMANDS_LAYOUT
            )
        lists[split] = [line for _, line in read_lines(root / name)]
    words = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise layout_error(
            "speechcommands", root, f"no word folders in {root}", SPEECHCOMMANDS_LAYOUT
        )
    listed = {rel for entries in lists.values() for rel in entries}
    every = [f"{w.name}/{p.name}" for w in words for p in sorted(w.glob("*.wav"))]
    lists["training"] = [rel for rel in every if rel not in listed]
    for split in ("training", "validation", "testing"):
        items = []
        for rel in lists[split]:
            word, _, name = rel.partition("/")
            extra = {"label": word, "speaker": name.split("_nohash_")[0]}
            items.append(SpeechItem(rel.removesuffix(".wav"), root / rel, word, extra))
        write_speech_split(report, split, items)
    report.notes.append(f"{len(words)} words: {', '.join(w.name for w in words)}")
